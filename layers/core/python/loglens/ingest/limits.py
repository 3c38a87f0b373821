"""Size limits of the ingest path, each with the reason for its number."""

from typing import Final

# API Gateway accepts 10 MB, but a synchronous Lambda invocation carries at most 6 MB, and
# base64 (binary bodies) inflates by 4/3: 4 MiB of body always fits.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
# A gzip body may expand; past this it is refused (also the guard against decompression bombs).
MAX_DECOMPRESSED_BYTES: Final = 20 * 1024 * 1024
MAX_BATCH_RECORDS: Final = 10_000
# Firehose refuses records of 1000 KiB or more; one log line must fit in one record.
MAX_FIREHOSE_RECORD_BYTES: Final = 1000 * 1024 - 1
MAX_FIREHOSE_BATCH_RECORDS: Final = 500
MAX_FIREHOSE_BATCH_BYTES: Final = 4 * 1024 * 1024
