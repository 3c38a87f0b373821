"""Database access: connections, migrations, partitions. psycopg is imported here, never at package import."""
