//! Tool-argument extraction that names the offending field: rmcp's own `Parameters` reports
//! type errors without saying which argument was wrong ("invalid type: string, expected u32");
//! this one reports `invalid argument `limit`: …` so an agent can fix its call at once.

use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::schemars::{self, JsonSchema};
use serde::de::DeserializeOwned;

/// A tool's arguments, deserialized with the failing field's path in the error. Named
/// `Parameters` so rmcp's `#[tool]` macro takes the input schema from `P`.
pub struct Parameters<P>(pub P);

impl<P: JsonSchema> JsonSchema for Parameters<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        P::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

/// Deserializes tool arguments, naming the field in the error.
pub fn parse<P: DeserializeOwned>(
    arguments: serde_json::Map<String, serde_json::Value>,
) -> Result<P, String> {
    serde_path_to_error::deserialize(serde_json::Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            format!("invalid arguments: {}", e.inner())
        } else {
            format!("invalid argument `{path}`: {}", e.inner())
        }
    })
}

impl<S, P: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<P> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        // rmcp turns invalid-params errors with this prefix into tool errors (`isError`),
        // which the agent sees, instead of protocol errors, which it does not.
        parse(arguments).map(Parameters).map_err(|m| {
            rmcp::ErrorData::invalid_params(format!("failed to deserialize parameters: {m}"), None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "fields are only deserialized")]
    struct Args {
        model_id: String,
        limit: Option<u32>,
    }

    fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        match v {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse::<Args>(obj(serde_json::json!({"model_id": "m", "limit": "ten"})))
            .expect_err("bad limit");
        assert!(e.contains("`limit`"), "{e}");
        let e = parse::<Args>(obj(serde_json::json!({}))).expect_err("missing");
        assert!(e.contains("model_id"), "{e}");
        assert!(parse::<Args>(obj(serde_json::json!({"model_id": "m"}))).is_ok());
    }
}
