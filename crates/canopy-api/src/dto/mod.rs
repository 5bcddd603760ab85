//! The API's wire shapes, under Helicone's field names, and their conversions from the store's
//! types. The CLI prints the same shapes with `--json`, so they live here once.

pub mod request;
pub mod session;
pub mod suggest;

/// Nano-USD as the API's USD number.
pub fn usd(nano: i64) -> f64 {
    nano as f64 / 1e9
}

/// The schema of a string that is one of `values`, for fields read as free text and checked
/// by hand.
pub fn one_of(values: &[&str]) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// [`one_of`], or null (an optional field sent as null).
pub fn one_of_or_null(values: &[&str]) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let mut allowed: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    allowed.push(serde_json::Value::Null);
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(allowed))
        .build()
}

/// Helicone's filter tree: an object, `"all"`, or null for everything. What the tree may hold
/// (tables, columns, operators, typed values) is checked when it is parsed.
pub fn filter_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::Object,
            Type::String,
            Type::Null,
        ]))
        .description(Some(
            "`{\"<table>\": {\"<column>\": {\"<operator>\": value}}}`, \
             `{\"left\": .., \"operator\": \"and\" | \"or\", \"right\": ..}`, `{}` or `\"all\"`.",
        ))
        .build()
}

/// Rows to skip, at most `i64::MAX` (what the store can count to; the schema says the same).
pub fn offset(offset: Option<u64>) -> Result<u64, crate::ApiError> {
    match offset {
        Some(n) if i64::try_from(n).is_err() => Err(crate::ApiError::BadRequest(format!(
            "offset must be at most {}, got {n}",
            i64::MAX
        ))),
        n => Ok(n.unwrap_or(0)),
    }
}

/// Reads an optional nested object, refusing the array form serde would otherwise read as
/// the struct's fields in order.
pub fn object_only<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::Deserialize as _;
    use serde::de::Error as _;
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(map) => serde_json::from_value(serde_json::Value::Object(map))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

/// `sum / n`, or 0 when `n` is 0.
pub fn mean(sum: f64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// A stored body as JSON: the parsed value if it is JSON, else the text, else null.
pub fn body_value(text: Option<&str>) -> serde_json::Value {
    match text {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text)
            .unwrap_or_else(|_| serde_json::Value::String(text.to_owned())),
    }
}
