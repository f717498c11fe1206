//! Where the Lambda Invoke API is, from an `SdkConfig`, the way aws-sdk-lambda finds it.

use aws_types::service_config::ServiceConfigKey;
use aws_types::SdkConfig;

use crate::error::ClientError;

/// The Invoke API's base URL: an endpoint set in code on `config` wins; then
/// `AWS_ENDPOINT_URL_LAMBDA` (or a profile's `services` section), then `AWS_ENDPOINT_URL`; else
/// the Region's public endpoint (FIPS when `use_fips`; dual-stack when `use_dual_stack`; `.cn`
/// in China Regions).
pub(crate) fn lambda_endpoint(config: &SdkConfig) -> Result<String, ClientError> {
    let configured = if config.get_origin("endpoint_url").is_client_config() {
        config.endpoint_url().map(str::to_string)
    } else {
        config
            .service_config()
            .and_then(|c| c.load_config(lambda_endpoint_key()))
            .or_else(|| config.endpoint_url().map(str::to_string))
    };
    if let Some(url) = configured {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let region = config.region().ok_or_else(|| {
        ClientError::Config("no AWS Region (set AWS_REGION, or a profile's region)".into())
    })?;
    Ok(regional_endpoint(
        region.as_ref(),
        config.use_fips().unwrap_or(false),
        config.use_dual_stack().unwrap_or(false),
    ))
}

fn lambda_endpoint_key() -> ServiceConfigKey<'static> {
    ServiceConfigKey::builder()
        .service_id("Lambda")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every field is set")
}

/// Lambda's public endpoint in `region`, by the region's partition (the DNS suffixes of the SDK's
/// partitions table: aws, aws-cn, aws-us-gov, aws-eusc and the ISO partitions).
fn regional_endpoint(region: &str, fips: bool, dual_stack: bool) -> String {
    let host = if fips { "lambda-fips" } else { "lambda" };
    // (region prefix, DNS suffix, dual-stack DNS suffix); the first match wins.
    const PARTITIONS: &[(&str, &str, &str)] = &[
        ("cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn"),
        ("eusc-", "amazonaws.eu", "api.amazonwebservices.eu"),
        ("us-isob-", "sc2s.sgov.gov", "api.aws.scloud"),
        ("us-isof-", "csp.hci.ic.gov", "api.aws.hci.ic.gov"),
        ("us-iso-", "c2s.ic.gov", "api.aws.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"),
        ("", "amazonaws.com", "api.aws"),
    ];
    let (_, suffix, dual) = PARTITIONS
        .iter()
        .find(|(prefix, _, _)| region.starts_with(prefix))
        .expect("the last entry matches every region");
    format!(
        "https://{host}.{region}.{}",
        if dual_stack { dual } else { suffix }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_types::region::Region;

    #[test]
    fn public_endpoints_follow_the_region_and_the_flags() {
        assert_eq!(
            regional_endpoint("eu-west-1", false, false),
            "https://lambda.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("us-gov-west-1", true, false),
            "https://lambda-fips.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("cn-north-1", false, false),
            "https://lambda.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            regional_endpoint("us-east-1", false, true),
            "https://lambda.us-east-1.api.aws"
        );
        assert_eq!(
            regional_endpoint("us-isob-east-1", false, false),
            "https://lambda.us-isob-east-1.sc2s.sgov.gov"
        );
        assert_eq!(
            regional_endpoint("us-iso-west-1", false, false),
            "https://lambda.us-iso-west-1.c2s.ic.gov"
        );
        assert_eq!(
            regional_endpoint("eusc-de-east-1", false, false),
            "https://lambda.eusc-de-east-1.amazonaws.eu"
        );
        assert_eq!(
            regional_endpoint("cn-north-1", false, true),
            "https://lambda.cn-north-1.api.amazonwebservices.com.cn"
        );
    }

    #[test]
    fn an_endpoint_set_in_code_wins_and_a_region_is_needed_otherwise() {
        let config = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9001/")
            .build();
        assert_eq!(lambda_endpoint(&config).unwrap(), "http://127.0.0.1:9001");
        let config = SdkConfig::builder()
            .region(Region::new("eu-central-1"))
            .build();
        assert_eq!(
            lambda_endpoint(&config).unwrap(),
            "https://lambda.eu-central-1.amazonaws.com"
        );
        let err = lambda_endpoint(&SdkConfig::builder().build()).unwrap_err();
        assert!(matches!(err, ClientError::Config(_)), "{err:?}");
    }
}
