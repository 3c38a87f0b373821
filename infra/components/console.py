"""The web console in AWS: a static site on S3 + CloudFront, Cognito sign-in, and the console's own API.

Sign-in: a Cognito user pool (users are created by an admin, no self sign-up; TOTP MFA required) with a
public app client (authorization code with PKCE, no client secret: the browser cannot keep one) and the
hosted UI on a Cognito domain. The console keeps tokens in memory and sends the ID token as a bearer.

Why the console has an API of its own instead of sharing the query API's methods: API Gateway cannot accept
"an API key OR a Cognito token" on one method. A method that requires a key refuses a request without one
before any authorizer runs, and a custom request authorizer that accepted either would have to verify
Cognito's JWTs and look up API keys itself. So the API-key callers (CLI, scripts) keep the query API with its
usage plans, and the console gets a second REST API with the same routes and the same two functions behind
a Cognito user-pool authorizer on every method: API Gateway checks both kinds of credential itself, and no
request reaches a function unauthenticated. That API is served under /api/* of the console's CloudFront
distribution, so the console calls its own origin: no CORS, and the CSP's connect-src is 'self' plus the
Cognito domain. The functions read who is asking from the authorizer's claims (loglens.query.api.principal).

The site: a private bucket read only by the distribution (origin access control), HTTPS only, security
headers with the console's CSP (loglens.http.csp), index.html and config.json revalidated on every load,
the hashed assets/ cached for a year, and an SPA fallback (a path without a file extension is index.html)
done by a CloudFront function on the site's behaviour only, so API errors stay API errors. `config.json` is
written at deploy from the pool, client and domain. The built console (`make console`) is deployed with it;
when it was not built, synth still works offline: the site gets a page saying how to build it, and synth
warns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aws_cdk import Annotations, Aws, DefaultStackSynthesizer, Duration, Fn, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.components.common import log_group, removal_policy
from infra.components.rest_api import LoglensRestApi
from infra.config import LoglensConfig
from infra.nag import acknowledge, acknowledge_wildcard_resources
from loglens.http.csp import console_csp
from loglens.query.routes import ROUTES as QUERY_ROUTES

ASK_ROUTES: Final = (("/api/v1/ask", "POST"), ("/api/v1/ask/{id}", "GET"))
NOT_BUILT_WARNING: Final = (
    "loglens: clients/console/dist is not built, so the console's site gets a page saying how to build it; "
    "run `make console` before `cdk deploy` to deploy the console itself"
)
NOT_BUILT_PAGE: Final = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>loglens</title><h1>loglens</h1>"
    "<p>The console was not built when this stack was deployed: run <code>make console</code> in the loglens "
    "repository, then <code>npx cdk deploy</code> again.</p></html>"
)
# A path without a file extension is a page of the app (its routes live in the fragment, but a bookmarked
# /something should still open it); files are served as they are.
SPA_FALLBACK: Final = """function handler(event) {
  var request = event.request;
  if (request.uri.indexOf('.') === -1) { request.uri = '/index.html'; }
  return request;
}"""
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'"  # JSON answers: nothing to load, never framed
IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"


class ConsoleSite(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        dist: Path,
        functions: Mapping[str, str],
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
    ) -> None:
        """`functions`: the ARNs of the query and ask functions (in the analysis stack), by name."""
        super().__init__(scope, construct_id)
        removal = removal_policy(config)
        prefix = config.console.auth_domain_prefix or Fn.join("-", ["loglens", config.stage, Aws.ACCOUNT_ID])

        self.user_pool = self._user_pool(config)
        self.domain = self.user_pool.add_domain(
            "SignInDomain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix)
        )
        self.sign_in_url = self.domain.base_url()
        self.api = self._api(config, functions)

        self.bucket = s3.Bucket(
            self,
            "Site",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "The bucket holds only the console's public build and config.json, read solely by CloudFront through "
            "origin access control; every API call the console makes is logged by API Gateway's access logs.",
        )
        self.distribution = self._distribution(config)
        self.url = f"https://{self.distribution.distribution_domain_name}"
        self.client = self.user_pool.add_client(
            "Console",
            generate_secret=False,  # a browser app cannot keep a secret: the code flow uses PKCE instead
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[f"{self.url}/"],
                logout_urls=[f"{self.url}/"],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(12),
        )
        self._deploy(config, dist, vpc, subnets, security_group)

    def _user_pool(self, config: LoglensConfig) -> cognito.UserPool:
        pool = cognito.UserPool(
            self,
            "Users",
            user_pool_name=f"loglens-{config.stage}-console",
            self_sign_up_enabled=False,  # who may read everyone's logs is decided by an admin
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=config.retain_data,
            removal_policy=removal_policy(config),
        )
        acknowledge(
            pool,
            "AwsSolutions-COG8",
            "Threat protection needs Cognito's Plus plan, billed per active user; here no one can sign up, an admin "
            "creates each user and TOTP MFA is required, which covers the credential-stuffing risk it targets.",
        )
        return pool

    def _api(self, config: LoglensConfig, functions: Mapping[str, str]) -> LoglensRestApi:
        api = LoglensRestApi(
            self,
            "Api",
            config=config,
            name="console",
            description="loglens console API (Cognito sign-in; served under /api/* of the console's site)",
            rate_limit=0,  # no API keys (so no usage plan): every method has the Cognito authorizer instead
            burst_limit=0,
            quota_per_day=None,
            stage_rate_limit=config.console.rate_limit,  # all signed-in users together
            stage_burst_limit=config.console.burst_limit,
        )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "SignedIn", cognito_user_pools=[self.user_pool], results_cache_ttl=Duration.minutes(5)
        )
        routes = {"query": QUERY_ROUTES, "ask": ASK_ROUTES}
        for name, arn in functions.items():
            # Imported: the invoke permissions (one per route, as for any LambdaIntegration) are then written in
            # this stack, and the analysis stack, which owns the functions, never refers back to this one.
            handler = lambda_.Function.from_function_attributes(
                self, f"{name.capitalize()}Function", function_arn=arn, same_environment=True
            )
            for path, method in routes[name]:
                api.add_route(path, method, handler, authorizer=authorizer)
        return api

    def _headers(self, construct_id: str, csp: str, cache_control: str | None) -> cloudfront.ResponseHeadersPolicy:
        custom = (
            cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(header="Cache-Control", value=cache_control, override=True)
                ]
            )
            if cache_control
            else None
        )
        return cloudfront.ResponseHeadersPolicy(
            self,
            construct_id,
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=csp, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
            custom_headers_behavior=custom,
        )

    def _distribution(self, config: LoglensConfig) -> cloudfront.Distribution:
        csp = console_csp(connect=[self.sign_in_url])
        site = origins.S3BucketOrigin.with_origin_access_control(self.bucket)
        api_domain = f"{self.api.api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"
        api_origin = origins.HttpOrigin(
            api_domain,
            origin_path=f"/{self.api.api.deployment_stage.stage_name}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        fallback = cloudfront.Function(
            self,
            "SpaFallback",
            code=cloudfront.FunctionCode.from_inline(SPA_FALLBACK),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="loglens console: paths without a file extension open the app",
        )
        https_only = cloudfront.ViewerProtocolPolicy.HTTPS_ONLY
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"loglens {config.stage} console",
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            default_behavior=cloudfront.BehaviorOptions(
                origin=site,
                viewer_protocol_policy=https_only,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,  # index.html and config.json: always fresh
                response_headers_policy=self._headers("SiteHeaders", csp, REVALIDATE),
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=fallback, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                "/assets/*": cloudfront.BehaviorOptions(
                    origin=site,
                    viewer_protocol_policy=https_only,
                    cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,  # hashed names: a new build, new names
                    response_headers_policy=self._headers("AssetHeaders", csp, IMMUTABLE),
                ),
                "/api/*": cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=https_only,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    # The Authorization header (the ID token) and the query string reach the API; Host must not.
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=self._headers("ApiHeaders", API_CSP, None),
                ),
            },
        )
        for rule, reason in (
            (
                "AwsSolutions-CFR1",
                "The console is for a team whose locations are not known to the template; every request needs a "
                "Cognito sign-in with MFA, and a geo restriction can be added per deployment.",
            ),
            (
                "AwsSolutions-CFR2",
                "No WAF web ACL by default (its cost is fixed per month): the site is static, and every API call "
                "needs a Cognito token checked by API Gateway, which also throttles the stage.",
            ),
            (
                "AwsSolutions-CFR3",
                "The site is a static build; every API request is logged by the console API's access logs, so "
                "CloudFront's request logs (and the ACL-enabled bucket they need) would add nothing about data.",
            ),
            (
                "AwsSolutions-CFR4",
                "The distribution uses CloudFront's default certificate (no custom domain by default), for which "
                "CloudFront fixes the viewer TLS policy; a custom domain's certificate can require TLS 1.2.",
            ),
        ):
            acknowledge(distribution, rule, reason)
        return distribution

    def _deploy(
        self,
        config: LoglensConfig,
        dist: Path,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
    ) -> None:
        built = (dist / "index.html").is_file()
        if not built:
            Annotations.of(self).add_warning_v2("loglens:console-not-built", NOT_BUILT_WARNING)
        site = s3deploy.Source.asset(str(dist)) if built else s3deploy.Source.data("index.html", NOT_BUILT_PAGE)
        settings = s3deploy.Source.json_data(
            "config.json",
            {
                "auth": "cognito",
                "domain": self.sign_in_url,
                "clientId": self.client.user_pool_client_id,
                "redirectUri": f"{self.url}/",
                "apiUrl": self.url,  # the console's own origin: /api/* is the console API
                "scopes": "openid email",
                "tokenUse": "id",
            },
        )
        # In the isolated subnets like every other function: it only reads the asset bucket and writes the site
        # bucket, both through the S3 gateway endpoint. No invalidation: index.html and config.json are never
        # cached at the edge and the assets' names change with their content.
        s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            sources=[site, settings],
            prune=True,
            retain_on_delete=False,
            memory_limit=256,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group],
            log_group=log_group(self, "DeployLogs", config),
        )
        self._acknowledge_deployment()

    def _acknowledge_deployment(self) -> None:
        stack = Stack.of(self)
        handler = next(c for c in stack.node.children if c.node.id.startswith("Custom::CDKBucketDeployment"))
        acknowledge(
            handler,
            "AwsSolutions-L1",
            "CDK's BucketDeployment handler pins its own Python runtime and AWS CLI layer, released with "
            "aws-cdk-lib; it runs only during deploys.",
        )
        acknowledge(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's BucketDeployment role; the handler writes only to its own log group.",
        )
        acknowledge(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
            "CDK attaches the VPC access policy because the deployment runs in the isolated subnets; its ENI "
            "actions have no resource-level permissions.",
        )
        acknowledge(
            handler,
            "AwsSolutions-IAM5[Action::s3:GetObject*]",
            "CDK's BucketDeployment reads the staged asset objects by prefix from the bootstrap asset bucket.",
        )
        for action in ("s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"):
            acknowledge(
                handler,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's BucketDeployment syncs the site bucket (list, upload, delete files no longer in the build); "
                "the statement names only this bucket and the asset bucket.",
            )
        qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
        assets = f"arn:{stack.partition}:s3:::cdk-{qualifier}-assets-{stack.account}-{stack.region}/*"
        policy = handler.node.find_child("ServiceRole").node.find_child("DefaultPolicy")
        acknowledge_wildcard_resources(
            policy,
            [f"{self.bucket.bucket_arn}/*", assets],
            "Every object of the site bucket (the build's files, replaced whole on each deploy) and the staged "
            "asset objects CDK uploads the build as: the deployment reads and writes whole folders.",
        )
