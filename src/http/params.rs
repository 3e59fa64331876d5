//! Path and query parameters: the extractors every handler reads them with
//! ([`Path`], [`Query`]). Like actix's own, but a value that does not
//! parse is a 400 naming the parameter (`limit: must be an integer`),
//! never repeating the value, by the same mechanism as bodies
//! (`error::input_error`).

use std::future::{ready, Ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::{field_path, input_error, ApiError, Input};

/// The path parameters of the matched route, as `T` (a struct whose fields
/// are the template's names).
#[derive(Debug)]
pub struct Path<T>(pub T);

/// The query string, as `T` (its fields are the parameters).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Path<T> {
    /// The parameters.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Query<T> {
    /// The parameters.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Path<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = actix_router::PathDeserializer::new(req.match_info());
        ready(
            serde_path_to_error::deserialize(de).map(Path).map_err(|e| {
                input_error(Input::Path, &field_path(e.path()), &e.inner().to_string())
            }),
        )
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        let de = serde_urlencoded::Deserializer::new(pairs);
        ready(
            serde_path_to_error::deserialize(de)
                .map(Query)
                .map_err(|e| {
                    input_error(Input::Query, &field_path(e.path()), &e.inner().to_string())
                }),
        )
    }
}
