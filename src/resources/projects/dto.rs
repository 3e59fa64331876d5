//! Request bodies and views of projects, and the name rule projects and API
//! proxies share.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::model::{ProjectChanges, ProjectRow};
use crate::error::{field_errors, ApiError, FieldError};

/// A project or API proxy name: 1 to 100 of `A-Z a-z 0-9 . _ -`, but not
/// `.` or `..`, which cannot be addressed in a URL path (clients and
/// servers normalise them away as dot segments). Case-sensitive. Checked
/// when a path is parsed (400 `invalid_path_parameter`) and in bodies (400
/// `validation_failed`), by the same rule the document states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Name(pub String);

impl Name {
    /// The pattern, as in the document (no look-around, so every regex
    /// engine reads it the same way): any allowed string of 1 to 100
    /// characters except `.` and `..`.
    pub const PATTERN: &'static str = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$";

    /// What the rule says, for messages.
    pub const RULE: &'static str =
        "must be 1 to 100 of A-Z, a-z, 0-9, '.', '_' and '-', and not '.' or '..'";

    /// Whether a text is a valid name.
    pub fn is_valid(text: &str) -> bool {
        (1..=100).contains(&text.len())
            && text != "."
            && text != ".."
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    /// The name's field error, if it breaks the rule.
    pub fn check(field: &str, text: &str) -> Option<FieldError> {
        (!Name::is_valid(text)).then(|| FieldError::new(field, "pattern", Name::RULE))
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if Name::is_valid(&text) {
            Ok(Name(text))
        } else {
            Err(serde::de::Error::custom(Name::RULE))
        }
    }
}

/// Path of single-project operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The project's name: case-sensitive, 1 to 100 of `A-Z a-z 0-9 . _ -`,
    /// never `.` or `..` (dot segments cannot be addressed in a URL).
    #[param(
        value_type = String,
        min_length = 1,
        max_length = 100,
        pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$",
        example = "MyProject"
    )]
    pub project_name: Name,
}

/// Body of `create_project`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// The name, unique in the organization and case-sensitive: 1 to 100 of
    /// `A-Z a-z 0-9 . _ -`, not `.` or `..` (a name is a path segment, and
    /// those two cannot be addressed in a URL).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$",
        example = "MyProject"
    )]
    pub name: String,
    /// What the project is for, up to 1,000 characters.
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    #[schema(
        nullable = true,
        max_length = 1000,
        example = "Public APIs of the shop"
    )]
    pub description: Option<String>,
}

impl CreateProject {
    /// Validates the body (every field's errors together).
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = field_errors(self);
        errors.extend(Name::check("name", &self.name));
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::check_fields(errors)
    }
}

/// Body of `update_project`: only the fields present change.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    /// New description, up to 1,000 characters, or `null` to clear it.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    #[schema(max_length = 1000, example = "Public APIs of the shop")]
    pub description: Option<Option<String>>,
}

impl UpdateProject {
    /// Validates the body and turns it into a changeset.
    pub fn into_changes(self) -> Result<ProjectChanges, ApiError> {
        self.validate()?;
        Ok(ProjectChanges {
            description: self.description,
            updated_at: None,
        })
    }
}

/// A project as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    /// `prj_` and 32 hex digits.
    #[schema(
        pattern = "^prj_[0-9a-f]{32}$",
        example = "prj_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub id: String,
    /// The organization the project belongs to.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// The name, used in paths.
    #[schema(example = "MyProject")]
    pub name: String,
    /// What the project is for, or `null`.
    #[schema(required = true, nullable = true, example = "Public APIs of the shop")]
    pub description: Option<String>,
    /// When the project was created.
    pub created_at: DateTime<Utc>,
    /// When the project was last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        Project {
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            description: row.description,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// A page of projects.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    /// The projects, by id.
    pub data: Vec<Project>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, nullable = true, example = "cHJqXzAxOTBhMGIx")]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::Name;

    #[test]
    fn names_follow_the_documented_pattern() {
        let long = "a".repeat(100);
        let too_long = "a".repeat(101);
        let dots = ".".repeat(100);
        let pattern = regex::Regex::new(Name::PATTERN).expect("name pattern compiles");
        let cases = [
            "MyAPI",
            "MyProject",
            "a",
            "0",
            "_",
            "-",
            ".a",
            "a.",
            "..a",
            "...",
            "a.b",
            "v1.2_beta-3",
            long.as_str(),
            dots.as_str(),
            too_long.as_str(),
            "",
            ".",
            "..",
            "my api",
            "a/b",
            "ü",
            "a%41",
            "a\u{0}",
        ];
        for case in cases {
            assert_eq!(Name::is_valid(case), pattern.is_match(case), "{case:?}");
        }
        assert!(Name::is_valid("..."));
        assert!(!Name::is_valid("."));
        assert!(!Name::is_valid(".."));
    }
}
