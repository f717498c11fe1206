"""Creates the lock table (partition key resource_id, String; no sort key) if it is missing.

Usage: python create_table.py TABLE   (endpoint and credentials from the AWS_* environment)
"""
import sys

import boto3

table = sys.argv[1]
client = boto3.client("dynamodb")
if table not in client.list_tables()["TableNames"]:
    client.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "resource_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "resource_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.1})
print(f"[stack] table {table} ready", file=sys.stderr)
