"""Runs a moto server for s3ferry's tests and demo.

Starts moto on a free loopback port, creates an administrator user with access keys in each
account named on the command line (while auth is off), then turns IAM enforcement on, prints one
JSON line {"port": N, "admins": {account: {"access_key_id", "secret_access_key"}}} and serves
until its stdin closes: when the test process or demo dies, so does the server.
"""
import json
import sys
import urllib.request

import boto3
from moto.server import ThreadedMotoServer

ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def reset_auth(endpoint, value):
    req = urllib.request.Request(
        endpoint + "/moto-api/reset-auth",
        data=value.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(req).read()


def client(service, endpoint, creds):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
    )


def main():
    accounts = sys.argv[1:]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    reset_auth(endpoint, "inf")
    admins = {}
    anon = {"AccessKeyId": "bootstrap", "SecretAccessKey": "bootstrap"}
    for account in accounts:
        session = client("sts", endpoint, anon).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/bootstrap", RoleSessionName="bootstrap"
        )["Credentials"]
        iam = client("iam", endpoint, session)
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="admin", PolicyDocument=ADMIN_POLICY)
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        admins[account] = {
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
        }
    reset_auth(endpoint, "0")
    print(json.dumps({"port": port, "admins": admins}), flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
