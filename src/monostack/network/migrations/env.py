from monostack.common.migrate import run_env
from monostack.network.models import Base

run_env(Base.metadata)
