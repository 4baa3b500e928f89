"""Local mode: the workflow on one machine against local stand-ins for the AWS services.

EMULATION, not AWS: moto plays the services (no IAM or KMS enforcement), the training
container's entry point runs on this CPU, Custom Model Import runs the real readiness check and
Bedrock Runtime answers from local weights. Bedrock customization jobs are status only.
Optional: ``pip install -e '.[local,training]'``. docs/local.md describes every stand-in.
"""
