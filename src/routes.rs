//! The route table: every documented operation of every surface with its
//! contract (least role, audit type, `If-Match`), read from the surfaces'
//! OpenAPI documents once at start, so the documents, the routes and the
//! permission checks cannot drift apart. The auth middleware finds the
//! operation a request addresses here, and the default service answers
//! 404 or 405 from it.

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::error::ApiError;
use crate::keys::rights::{PolicyNames, Role};

/// The extension naming an operation's least role.
pub const ROLE_EXTENSION: &str = "x-keygate-role";
/// The extension naming the resource type of an audited operation's events.
pub const AUDIT_EXTENSION: &str = "x-keygate-audit";
/// The extension by which a dialect operation names its native twin: the
/// native operationId whose `api_policy` entry governs it, so a policy
/// written for the native API governs the vendor's client too.
pub const ACTS_AS_EXTENSION: &str = "x-keygate-acts-as";

/// What an authenticated operation requires and promises, declared once
/// beside its handler and read here from the document:
///
/// ```text
/// #[utoipa::path(
///     params(ApiKeyPath, IfMatch),                      // honours If-Match
///     extensions(
///         ("x-keygate-role" = json!(Role::Personal)),   // least role
///         ("x-keygate-audit" = json!("api_key")),       // a mutation, audited as api_key
///     ),
///     ...
/// )]
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationContract {
    /// The least role (`x-keygate-role`).
    pub role: Role,
    /// For an operation that changes state (or reads a secret value), the
    /// `resource_type` of its audit events (`x-keygate-audit`); it is then
    /// audited, also when refused with 401 or 403.
    pub audit: Option<String>,
    /// Whether it honours `If-Match` (its handler lists `params(IfMatch)`),
    /// and so can answer 412.
    pub if_match: bool,
    /// For a dialect operation, its native twin (`x-keygate-acts-as`): the
    /// operationId a key's `api_policy` is checked against.
    pub acts_as: Option<String>,
}

impl OperationContract {
    /// Whether the operation changes state and is audited.
    pub fn mutates(&self) -> bool {
        self.audit.is_some()
    }

    /// The operationId a key's `api_policy` names for this operation: its
    /// native twin's for a dialect operation, else its own.
    pub fn policy_name<'a>(&'a self, operation_id: &'a str) -> &'a str {
        self.acts_as.as_deref().unwrap_or(operation_id)
    }

    /// The contract an operation object of a document declares; `None`
    /// without `x-keygate-role` (a public operation).
    pub fn of(doc: &Value, op: &Value) -> Option<OperationContract> {
        let role = serde_json::from_value(op.get(ROLE_EXTENSION)?.clone())
            .unwrap_or_else(|_| panic!("{} has an unknown {ROLE_EXTENSION}", op["operationId"]));
        let audit = op
            .get(AUDIT_EXTENSION)
            .map(|v| v.as_str().expect("x-keygate-audit is a string").to_owned());
        let if_match = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| is_if_match(doc, p));
        let acts_as = op.get(ACTS_AS_EXTENSION).map(|v| {
            v.as_str()
                .expect("x-keygate-acts-as is a string")
                .to_owned()
        });
        Some(OperationContract {
            role,
            audit,
            if_match,
            acts_as,
        })
    }
}

/// Whether a parameter object (or a `$ref` to one) is the `If-Match` header.
fn is_if_match(doc: &Value, param: &Value) -> bool {
    let param = match param["$ref"].as_str() {
        Some(pointer) => pointer
            .strip_prefix('#')
            .and_then(|p| doc.pointer(p))
            .unwrap_or(&Value::Null),
        None => param,
    };
    param["in"] == "header"
        && param["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("if-match"))
}

/// The operationId a request addressed, left in its extensions by the
/// authentication middleware once it found the route.
#[derive(Debug, Clone)]
pub struct Addressed(pub String);

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Route {
    /// The surface whose document lists it (`native`, or a dialect's name).
    pub surface: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Path template as in the document, e.g. `/v1/api_keys/{api_key_id}`.
    pub path: String,
    /// The operationId.
    pub operation_id: String,
    /// Names of the path parameters.
    pub path_params: Vec<String>,
    /// Its contract; `None` for a public operation (`/healthz`).
    pub contract: Option<OperationContract>,
}

impl Route {
    /// The path parameters of a concrete path matching this route's
    /// template, percent-decoded as the handlers see them (`My%41PI` is
    /// `MyAPI`), so a policy is checked against the resource actually
    /// addressed.
    pub fn params_of(&self, path: &str) -> Vec<(String, String)> {
        self.path
            .split('/')
            .zip(path.split('/'))
            .filter_map(|(t, p)| {
                let name = t.strip_prefix('{')?.strip_suffix('}')?;
                let value = percent_encoding::percent_decode_str(p).decode_utf8_lossy();
                Some((name.to_owned(), value.into_owned()))
            })
            .collect()
    }
}

/// Every documented operation of every surface, built once at start from
/// the surfaces' documents and handed to the auth middleware and the
/// 404/405 service (as app data).
#[derive(Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
    /// The routes of each template without parameters, by path, in
    /// order: a request to such a path (`/v1/verify`) finds its operation
    /// without a pass over every template ([`Routes::find_for_path`]).
    literal: HashMap<String, Vec<usize>>,
}

impl Routes {
    /// The operations of one document (of an unnamed surface).
    pub fn from_document(doc: &Value) -> Routes {
        Routes::from_documents([("", doc)])
    }

    /// The operations of each surface's document.
    pub fn from_documents<'a>(docs: impl IntoIterator<Item = (&'static str, &'a Value)>) -> Routes {
        let mut routes = Vec::new();
        for (surface, doc) in docs {
            routes.extend(Routes::read(surface, doc));
        }
        let mut literal: HashMap<String, Vec<usize>> = HashMap::new();
        for (at, route) in routes.iter().enumerate() {
            if route.path_params.is_empty() {
                literal.entry(route.path.clone()).or_default().push(at);
            }
        }
        Routes { routes, literal }
    }

    fn read(surface: &'static str, doc: &Value) -> Vec<Route> {
        let mut routes = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let (Ok(method), Some(operation_id)) = (
                    Method::from_bytes(method.to_ascii_uppercase().as_bytes()),
                    op["operationId"].as_str(),
                ) else {
                    continue;
                };
                let path_params = path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                    .map(str::to_owned)
                    .collect();
                routes.push(Route {
                    surface,
                    method,
                    path: path.clone(),
                    operation_id: operation_id.to_owned(),
                    path_params,
                    contract: OperationContract::of(doc, op),
                });
            }
        }
        routes
    }

    /// The names a policy may use: every authenticated operation that is
    /// not a dialect's stand-in for a native one (those are governed by
    /// their twin's entry), and its path parameters.
    pub fn policy_names(&self) -> PolicyNames {
        let mut names = PolicyNames::default();
        let named = |r: &&Route| r.contract.as_ref().is_some_and(|c| c.acts_as.is_none());
        for route in self.routes.iter().filter(named) {
            names.operations.insert(route.operation_id.clone());
            names.parameters.extend(route.path_params.iter().cloned());
        }
        names
    }

    /// The operation registered for a method and a matched path template.
    pub fn find(&self, method: &Method, template: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.method == *method && r.path == template)
    }

    /// The documented operations a concrete path addresses. As OpenAPI
    /// says, concrete segments match before templated ones: of the
    /// templates matching the path, only those with the fewest parameters
    /// count (`/_connector/_secret` is never `/_connector/{connector_id}`).
    fn addressed<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Route> + 'a {
        let matching = move || {
            self.routes
                .iter()
                .filter(move |r| template_matches(&r.path, path))
        };
        let fewest = matching().map(|r| r.path_params.len()).min();
        matching().filter(move |r| Some(r.path_params.len()) == fewest)
    }

    /// The operation a concrete request path and method address (see
    /// [`Routes::addressed`]); `None` when the path's operations have other
    /// methods.
    pub fn find_for_path(&self, method: &Method, path: &str) -> Option<&Route> {
        // A template without parameters that is the path itself has the
        // fewest parameters there can be: the answer is among its routes.
        if let Some(at) = self.literal.get(path) {
            return at
                .iter()
                .map(|&i| &self.routes[i])
                .find(|r| r.method == *method);
        }
        // One pass: the first route with the method among those with the
        // fewest parameters so far (a route with fewer starts over).
        let mut fewest = usize::MAX;
        let mut found = None;
        for route in self
            .routes
            .iter()
            .filter(|r| template_matches(&r.path, path))
        {
            let params = route.path_params.len();
            if params < fewest {
                fewest = params;
                found = None;
            }
            if params == fewest && found.is_none() && route.method == *method {
                found = Some(route);
            }
        }
        found
    }

    /// The operation with this operationId.
    pub fn by_operation_id(&self, operation_id: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.operation_id == operation_id)
    }

    /// Every documented operation.
    pub fn all(&self) -> &[Route] {
        &self.routes
    }

    /// Methods documented for a concrete request path (empty: no such path).
    pub fn methods_for(&self, path: &str) -> Vec<Method> {
        let mut methods: Vec<Method> = self.addressed(path).map(|r| r.method.clone()).collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        methods
    }
}

/// Whether a concrete path matches a template segment by segment (a
/// parameter matches one non-empty segment; a trailing slash is a segment).
pub fn template_matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && !ps.is_empty() => {}
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// The default service of the application: 405 with `Allow` when the path
/// exists with other methods (as the documents say), otherwise 404. The
/// surface owning the path writes the answer.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = req
        .app_data::<web::Data<Routes>>()
        .map(|routes| routes.methods_for(req.path()))
        .unwrap_or_default();
    if allow.is_empty() {
        Err(ApiError::NotFound(format!("no route for {}", req.path())))
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;
    use serde_json::json;

    use super::{template_matches, Routes};

    #[test]
    fn a_concrete_path_is_matched_before_a_templated_one() {
        let routes = Routes::from_document(&json!({"paths": {
            "/_connector/_secret": {"post": {"operationId": "create_secret"}},
            "/_connector/{connector_id}": {
                "put": {"operationId": "put_connector"},
                "get": {"operationId": "get_connector"}
            }
        }}));
        assert_eq!(routes.methods_for("/_connector/_secret"), [Method::POST]);
        assert!(routes
            .find_for_path(&Method::PUT, "/_connector/_secret")
            .is_none());
        let put = routes.find_for_path(&Method::PUT, "/_connector/c").unwrap();
        assert_eq!(put.operation_id, "put_connector");
        assert_eq!(
            routes.methods_for("/_connector/c"),
            [Method::GET, Method::PUT]
        );
    }

    #[test]
    fn templates_match_whole_segments_only() {
        assert!(template_matches("/v1/api_keys/{id}", "/v1/api_keys/aky_1"));
        assert!(!template_matches("/v1/api_keys/{id}", "/v1/api_keys/"));
        assert!(!template_matches("/v1/api_keys/{id}", "/v1/api_keys/a/b"));
        assert!(!template_matches("/v1/api_keys", "/v1/api_keys/x"));
        // Trailing-slash paths (a dialect's) match only with the slash.
        assert!(template_matches("/apiops/projects/", "/apiops/projects/"));
        assert!(!template_matches("/apiops/projects/", "/apiops/projects"));
        assert!(!template_matches("/apiops/projects", "/apiops/projects/"));
    }
}
