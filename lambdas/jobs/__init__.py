"""The workflow's job driver: start, poll and stop Bedrock customization, SageMaker training,
Bedrock import and provisioned-throughput jobs, as pure functions over boto3 clients."""
