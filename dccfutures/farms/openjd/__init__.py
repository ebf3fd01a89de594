"""Open Job Description: dccfutures jobs as OpenJD job bundles (:mod:`.bundle`), run here by
the reference runtime (:mod:`.session`) or sent to AWS Deadline Cloud. The task runtime that
runs inside those bundles is :mod:`dccfutures.runtime.openjd`."""
