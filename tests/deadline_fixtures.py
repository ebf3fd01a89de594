"""Fixtures shared by the Deadline Cloud tests: an AWS environment of the test's own, and the
process's deadline farm with its real boto3 client under botocore's Stubber (every request
checked against the real service model)."""
import os

import pytest

from dccfutures import config as config_module, farms

FARM = "farm-" + "0123456789abcdef" * 2
QUEUE = "queue-" + "fedcba9876543210" * 2


@pytest.fixture
def aws(tmp_path, monkeypatch):
    """No AWS or Deadline settings of this machine leak in: empty AWS files, no instance
    metadata, the deadline CLI's config a file of the test's own."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("DEADLINE_CONFIG_FILE_PATH", str(tmp_path / "deadline-config"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    return tmp_path


@pytest.fixture
def credentials(aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def stubbed_farm(farm_config, settings=""):
    """Yields (the process's deadline farm configured with ``deadline: {farm_id, queue_id,
    <settings>}``, its client's Stubber); for a fixture to ``yield from``."""
    from botocore import stub as botocore_stub
    farm_config(extra="farm: deadline\ndeadline: {farm_id: %s, queue_id: %s, poll_min: 0.02, "
                      "poll_max: 0.2%s}\n" % (FARM, QUEUE, settings))
    farms.forget()
    farm = farms.get_farm("deadline", config_module.load())
    stub = botocore_stub.Stubber(farm.client)
    stub.activate()
    yield farm, stub
    stub.deactivate()
    farms.forget()
