"""Job attachments for the deadline farm: payloads up to the queue's S3 bucket, results back.

Used when the queue has job attachments (``jobAttachmentSettings`` in GetQueue) and the config
names no ``deadline.spool_dir``. Everything goes through the ``deadline`` library's
``job_attachments`` package, as ``deadline bundle submit`` does it:

* submit: the files of the bundle's ``payload/`` folder are hashed and uploaded
  (``S3AssetManager``) to the queue's bucket under its root prefix; the job folder is the
  manifest's ``rootPath`` and its ``output`` folder the one output directory. CreateJob carries
  the manifests (``attachments``); the worker agent downloads the inputs into its session
  folder, maps the job's PATH parameters there, and after each task that succeeded uploads
  what the task wrote in ``output/`` with an output manifest of that task.
* results: for a task that SUCCEEDED, the output manifest of its last session action (the run
  that ended; at the step level for a TASK_CHUNKING chunk) is read once and only the files of
  its items' results (``result.json``, ``outcomes.bin``: one item, or each item of a
  TASK_CHUNKING chunk) are downloaded, into the job folder on this machine: a private
  (0700) folder in the farm home, the only place results are read.

S3 is reached with the queue role's credentials for the user (``AssumeQueueRoleForUser``,
refreshed before they expire), as the ``deadline`` CLI does.
"""
import os
from typing import Any, Callable, Dict, Optional, Sequence

from ..errors import FarmError
from ..runtime import openjd as runtime

RESULT_FILES = (runtime.RESULT, runtime.OUTCOMES)
OUTPUT = "output"  # the job folder's Output folder: the one output directory of its manifest


class ResultMissing(Exception):
    """The task's outputs hold no result for the item (final: asking again will not help)."""


class StorageError(Exception):
    """S3 could not be read now (access, throttling, network): asked again on a later cycle."""


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class JobAttachments:
    """The queue's job attachments: its bucket and root prefix, and a session for S3."""

    def __init__(self, settings: Dict[str, str], farm_id: str, queue_id: str,
                 session: Callable[[], Any], cache_dir: str):
        """``settings``: GetQueue's ``jobAttachmentSettings``; ``session``: returns the boto3
        session that reaches S3; ``cache_dir``: the hash and S3-check caches (ours, not the
        ``deadline`` CLI's)."""
        from deadline.job_attachments.models import JobAttachmentS3Settings
        self.s3 = JobAttachmentS3Settings(s3BucketName=settings["s3BucketName"],
                                          rootPrefix=settings["rootPrefix"])
        self.farm_id, self.queue_id = farm_id, queue_id
        self._session = session
        self.cache_dir = cache_dir

    def __str__(self) -> str:
        return "s3://%s/%s" % (self.s3.s3BucketName, self.s3.rootPrefix)

    def upload(self, job_folder: str, payload_dir: str, output_dir: str) -> Dict[str, Any]:
        """Hash and upload the files of ``payload_dir``; CreateJob's ``attachments`` (one
        manifest rooted at ``job_folder``, ``output_dir`` its output directory). Raises
        ``FarmError`` (one line) when S3 does not take them."""
        from deadline.job_attachments.upload import S3AssetManager
        inputs = sorted(os.path.join(folder, name) for folder, _, names in os.walk(payload_dir)
                        for name in names)
        os.makedirs(self.cache_dir, mode=0o700, exist_ok=True)
        try:
            manager = S3AssetManager(farm_id=self.farm_id, queue_id=self.queue_id,
                                     job_attachment_settings=self.s3, session=self._session())
            group = manager.prepare_paths_for_upload(
                input_paths=inputs, output_paths=[output_dir], referenced_paths=[],
                require_paths_exist=True)
            _, manifests = manager.hash_assets_and_create_manifest(
                group.asset_groups, group.total_input_files, group.total_input_bytes,
                hash_cache_dir=self.cache_dir)
            _, attachments = manager.upload_assets(manifests, s3_check_cache_dir=self.cache_dir)
        except FarmError:
            raise
        except Exception as error:  # the library's S3 and botocore errors, credentials
            raise FarmError("the job's payloads were not uploaded to the queue's job "
                            "attachments (%s): %s" % (self, one_line(error))) from None
        found = attachments.to_dict()
        roots = [m.get("rootPath") for m in found["manifests"]]
        if roots != [job_folder]:  # a storage profile location or a link moved the root
            raise FarmError("the job's payloads under %s were attached with the roots %s, not "
                            "one root at the job folder" % (job_folder, roots))
        found["fileSystem"] = "COPIED"
        return found

    def download_results(self, job_id: str, step_id: str, task_id: str, root: str,
                         work_ids: Sequence[int], into: str,
                         session_action: Optional[str] = None) -> Dict[int, str]:
        """Download the result files of the items ``work_ids`` (a task's item, or the items of
        its chunk) from ONE read of the task's output manifest into ``into`` (the job folder
        on this machine). ``session_action``: the task's ``latestSessionActionId``, the run
        that ended: only its manifest is read (a requeued task's earlier run uploaded one
        too), under the task or, for a TASK_CHUNKING chunk, under the step (where the
        ``deadline`` library keeps chunked steps' output manifests); without it, the task's
        newest. Returns why each item whose result is not in the manifest has none
        (``{work_id: reason}``). ``ResultMissing`` when the run uploaded no manifest at all;
        ``StorageError`` when S3 could not be read."""
        from deadline.job_attachments.download import (FileConflictResolution, download_files,
                                                       get_output_manifests_by_asset_root)
        wanted = {int(work_id): {"/".join((OUTPUT, runtime.WORK_FOLDER, str(int(work_id)), name))
                                 for name in RESULT_FILES} for work_id in work_ids}
        every = set().union(*wanted.values()) if wanted else set()
        ran = "%s (%s)" % (task_id, session_action) if session_action else task_id
        try:
            by_root = get_output_manifests_by_asset_root(
                self.s3, self.farm_id, self.queue_id, job_id, step_id, task_id,
                session_action_id=session_action, session=self._session())
            manifests = by_root.get(root) or []
            files = [(manifest.hashAlg, path) for manifest in manifests
                     for path in manifest.paths if path.path in every]
            if not manifests:
                raise ResultMissing("%s uploaded no output manifest for the job folder %s "
                                    "under %s" % (ran, root, self))
            listed = {path.path for _, path in files}
            lost = {work_id: "the output manifest of %s has no %s"
                    % (ran, " and ".join(sorted(paths - listed)))
                    for work_id, paths in wanted.items() if not paths <= listed}
            complete = set().union(*(paths for work_id, paths in wanted.items()
                                     if work_id not in lost)) if wanted else set()
            for algorithm in {algorithm for algorithm, path in files if path.path in complete}:
                download_files(
                    [path for alg, path in files if alg == algorithm and path.path in complete],
                    algorithm, into, self.s3, session=self._session(),
                    file_conflict_resolution=FileConflictResolution.OVERWRITE)
            return lost
        except (ResultMissing, FarmError):
            raise
        except Exception as error:  # the library's S3 errors, botocore's, credentials
            raise StorageError("%s could not be read: %s" % (self, one_line(error))) from None


def forget_result(output_dir: Optional[str], work_id: int) -> None:
    """Remove the result files an earlier attempt of the item left here."""
    if not output_dir:
        return
    for name in RESULT_FILES:
        try:
            os.unlink(os.path.join(runtime.item_folder(output_dir, work_id), name))
        except FileNotFoundError:
            pass


def private_folder(path: str) -> str:
    """``path`` created 0700 (or checked to be a folder of ours that nobody else can write):
    downloaded result pickles are read from nowhere else."""
    import stat
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 or (
            hasattr(os, "geteuid") and info.st_uid != os.geteuid()):
        raise FarmError("%s is not a private folder of this user (0700): Deadline Cloud "
                        "results are not downloaded there" % path)
    return path


def queue_role_session(client: Any, farm_id: str, queue_id: str, region: Optional[str]) -> Any:
    """A boto3 session with the queue role's credentials for this user (AssumeQueueRoleForUser
    through ``client``), refreshed before they expire: what the ``deadline`` CLI uses for S3."""
    import boto3
    import botocore.session
    from botocore.credentials import CredentialProvider, RefreshableCredentials

    def fetch() -> Dict[str, str]:
        found = client.assume_queue_role_for_user(farmId=farm_id, queueId=queue_id)
        credentials = found["credentials"]
        expiration = credentials["expiration"]
        return {"access_key": credentials["accessKeyId"],
                "secret_key": credentials["secretAccessKey"],
                "token": credentials["sessionToken"],
                "expiry_time": expiration.isoformat() if hasattr(expiration, "isoformat")
                else str(expiration)}

    class QueueRole(CredentialProvider):
        METHOD = "dccfutures-queue-role"

        def load(self) -> Any:
            return RefreshableCredentials.create_from_metadata(
                metadata=fetch(), refresh_using=fetch, method=self.METHOD)

    core = botocore.session.get_session()
    core.get_component("credential_provider").insert_before("env", QueueRole())
    return boto3.Session(botocore_session=core, region_name=region)
