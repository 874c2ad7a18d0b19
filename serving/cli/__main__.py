import sys

from serving.cli import main

if __name__ == "__main__":  # a spawned worker (Dask, multiprocessing) imports this module as __mp_main__
    sys.exit(main())
