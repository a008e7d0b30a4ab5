from monostack.common.migrate import run_env
from monostack.placement.models import Base

run_env(Base.metadata)
