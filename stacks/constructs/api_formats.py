"""What the trigger API writes: its access-log line and its gateway-made error bodies."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw

from bedrock_pipeline.contract import ErrorCode

# One JSON object per request. Quoted numbers keep the format valid when a value is "-".
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "accountId": "$context.identity.accountId",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "apiKeyId": "$context.identity.apiKeyId",
    "vpceId": "$context.identity.vpceId",
    "wafResponseCode": "$context.wafResponseCode",
    "xrayTraceId": "$context.xrayTraceId",
}

# Gateway-made errors in the API's own shape {"error": CODE, "message": ...}: (status, code,
# message). The templates are plain substitution, not VTL: ``messageString`` arrives quoted as a
# JSON string; ``validationErrorString`` (which names missing and unknown properties) does not.
# A status of None keeps the one API Gateway chose.
_MESSAGE = "$context.error.messageString"
GATEWAY_ERRORS: dict[apigw.ResponseType, tuple[str | None, ErrorCode, str]] = {
    apigw.ResponseType.BAD_REQUEST_BODY: (
        "400",
        ErrorCode.VALIDATION_FAILED,
        '"$context.error.validationErrorString"',
    ),
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: ("400", ErrorCode.INVALID_PARAMETER, _MESSAGE),
    apigw.ResponseType.ACCESS_DENIED: ("403", ErrorCode.ACCESS_DENIED, _MESSAGE),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("403", ErrorCode.ACCESS_DENIED, _MESSAGE),
    apigw.ResponseType.INVALID_SIGNATURE: ("403", ErrorCode.ACCESS_DENIED, _MESSAGE),
    apigw.ResponseType.EXPIRED_TOKEN: ("403", ErrorCode.ACCESS_DENIED, _MESSAGE),
    apigw.ResponseType.INVALID_API_KEY: ("403", ErrorCode.ACCESS_DENIED, _MESSAGE),
    apigw.ResponseType.WAF_FILTERED: ("403", ErrorCode.ACCESS_DENIED, _MESSAGE),
    apigw.ResponseType.THROTTLED: ("429", ErrorCode.THROTTLED, _MESSAGE),
    apigw.ResponseType.QUOTA_EXCEEDED: ("429", ErrorCode.QUOTA_EXCEEDED, _MESSAGE),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", ErrorCode.PAYLOAD_TOO_LARGE, _MESSAGE),
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: ("415", ErrorCode.UNSUPPORTED_MEDIA_TYPE, _MESSAGE),
    apigw.ResponseType.INTEGRATION_TIMEOUT: ("504", ErrorCode.UNAVAILABLE, _MESSAGE),
    apigw.ResponseType.DEFAULT_4_XX: (None, ErrorCode.INVALID_PARAMETER, _MESSAGE),
    apigw.ResponseType.DEFAULT_5_XX: (None, ErrorCode.UNAVAILABLE, _MESSAGE),
}
