"""Scale-out: one sync run as key-range tasks on a Dask cluster (docs/cluster.md).

address.py  where the ranges run: a scheduler, local:N, or a Client; Dask imported here
sight.py    do the workers see the local folder at the same path?
cuts.py     the key space cut into ranges, several per worker
task.py     what a worker runs: one range, with an in-memory copy of its state rows
run.py      the client: lock, check, cut, send, save each result, deletes, report
"""
