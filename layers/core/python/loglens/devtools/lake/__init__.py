"""The local lake: Parquet files under LOGLENS_HOME/lake in the Iceberg table's layout, written and read by DuckDB.

`loglens dev` and local replays forward rows to it through ``BufferSink`` (buffer.py), a flusher delivers the buffer by
size or time like Firehose (flusher.py, flush.py), and ``LocalLake`` answers guarded Trino SQL over it
(local.py). DuckDB is imported only when one of them runs: it is in the `local` extra, never in a Lambda.
"""
