"""Training on more than one device: the paper's two towers on two devices (model parallelism)
and synchronous data parallelism over MPI or NCCL."""
from tinyalex.parallel.distributed import Communicator, MPICommunicator, NCCLCommunicator, from_environment
from tinyalex.parallel.model_parallel import TowerParallelAlexNet

__all__ = ["Communicator", "MPICommunicator", "NCCLCommunicator", "TowerParallelAlexNet", "from_environment"]
