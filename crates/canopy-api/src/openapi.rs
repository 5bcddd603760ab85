//! The OpenAPI document served at `/api/openapi.json`, built from the handlers and shapes
//! themselves, then completed by [`Contract`] with what every route shares: the key schemes,
//! the error answers (400, 401, 500 in the envelope) and the alias routes.
//!
//! What must not go here: handlers or wire shapes (those are in `routes` and `dto`).

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Schema, SecurityRequirement};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::routes::{analytics, custom_log, replay, requests, sessions};

/// The OpenAPI document of every API route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Canopy API",
        description = "Helicone-compatible query API of Canopy, the self-hosted LLM gateway. \
            Every answer is the envelope `{\"data\": ..., \"error\": null}`, or \
            `{\"data\": null, \"error\": \"<message>\"}` with a 4xx or 5xx status."
    ),
    paths(
        requests::query,
        requests::count,
        requests::get,
        requests::feedback,
        requests::property,
        requests::score,
        sessions::query,
        sessions::count,
        sessions::names,
        sessions::metrics,
        sessions::paths,
        sessions::get,
        sessions::feedback,
        sessions::tag,
        sessions::add_tag,
        replay::replay,
        replay::start_job,
        replay::get_job,
        replay::cancel_job,
        replay::comparison,
        analytics::sessions,
        analytics::suggest,
        custom_log::log,
        custom_log::log_openai,
        custom_log::log_anthropic,
    ),
    components(schemas(ErrorEnvelope, Done)),
    modifiers(&Contract)
)]
pub struct ApiDoc;

/// Routes served under a second path, as (alias, original, operation id of the alias).
const ALIASES: &[(&str, &str, &str)] = &[
    (
        "/api/v1/request/query-clickhouse",
        "/api/v1/request/query",
        "queryRequestsClickhouse",
    ),
    (
        "/api/v1/trace/custom/log",
        "/api/custom/v1/log",
        "traceCustomLog",
    ),
];

/// Operation ids of routes whose handlers do not name one, by path.
const OPERATION_IDS: &[(&str, &str)] = &[
    ("/api/custom/v1/log", "customLog"),
    ("/api/oai/v1/log", "logOpenai"),
    ("/api/anthropic/v1/log", "logAnthropic"),
];

/// The body of every failure: `{"data": null, "error": "<message>"}`.
pub struct ErrorEnvelope;

impl PartialSchema for ErrorEnvelope {
    fn schema() -> RefOr<Schema> {
        envelope(
            ObjectBuilder::new().schema_type(Type::String),
            "What went wrong.",
        )
    }
}

impl ToSchema for ErrorEnvelope {}

/// The body of an annotation that succeeded: `{"data": null, "error": null}`.
pub struct Done;

impl PartialSchema for Done {
    fn schema() -> RefOr<Schema> {
        envelope(
            ObjectBuilder::new().schema_type(Type::Null),
            "Always null on success.",
        )
    }
}

impl ToSchema for Done {}

/// `{"data": null, "error": <error>}`, both required.
fn envelope(error: ObjectBuilder, error_description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .property("data", ObjectBuilder::new().schema_type(Type::Null))
        .property("error", error.description(Some(error_description)))
        .required("data")
        .required("error")
        .into()
}

/// Completes the generated document with what every route shares.
struct Contract;

impl Modify for Contract {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A Canopy key (`canopy keys create`), as `Authorization: Bearer <key>`. \
                         Needed once any key exists; a server with no keys on loopback runs open.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "heliconeAuth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Helicone-Auth",
                "The same key as `Helicone-Auth: Bearer <key>` (`Canopy-Auth` is also accepted).",
            ))),
        );
        api.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("heliconeAuth", Vec::<String>::new()),
        ]);
        for (path, operation_id) in OPERATION_IDS {
            if let Some(item) = api.paths.paths.get_mut(*path) {
                for operation in operations(item) {
                    operation.operation_id = Some((*operation_id).to_owned());
                }
            }
        }
        for (alias, original, operation_id) in ALIASES {
            if let Some(mut item) = api.paths.paths.get(*original).cloned() {
                for operation in operations(&mut item) {
                    operation.operation_id = Some((*operation_id).to_owned());
                }
                api.paths.paths.insert((*alias).to_owned(), item);
            }
        }
        for item in api.paths.paths.values_mut() {
            for operation in operations(item) {
                add_error(operation, "400", "The request is malformed.");
                add_error(operation, "401", "No valid Canopy key was sent.");
                add_error(operation, "500", "The store failed; the cause is logged.");
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Adds `status` to the operation's answers unless it is declared, and makes every 4xx and
/// 5xx answer the [`ErrorEnvelope`], whatever the handler declared.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    let responses = &mut operation.responses.responses;
    responses
        .entry(status.to_owned())
        .or_insert_with(|| error_response(description).into());
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(declared) = response
            && (status.starts_with('4') || status.starts_with('5'))
        {
            let description = if declared.description.is_empty() {
                "The request failed."
            } else {
                declared.description.as_str()
            };
            *response = error_response(description).into();
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn operation_ids_are_unique_and_every_operation_answers_401_in_the_envelope() {
        let api = ApiDoc::openapi();
        let mut ids = BTreeSet::new();
        for (path, item) in &api.paths.paths {
            let mut item = item.clone();
            for operation in operations(&mut item) {
                let id = operation.operation_id.clone().unwrap();
                assert!(ids.insert(id.clone()), "{id} twice, at {path}");
                assert!(operation.responses.responses.contains_key("401"), "{path}");
            }
        }
        assert!(
            api.paths
                .paths
                .contains_key("/api/v1/request/query-clickhouse")
        );
        assert!(api.paths.paths.contains_key("/api/v1/trace/custom/log"));
    }

    #[test]
    fn query_string_parameters_are_declared_in_the_query() {
        let json = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let parameters = &json["paths"]["/api/v1/analytics/sessions"]["get"]["parameters"];
        for parameter in parameters.as_array().unwrap() {
            assert_eq!(parameter["in"], "query", "{parameter}");
        }
    }
}
