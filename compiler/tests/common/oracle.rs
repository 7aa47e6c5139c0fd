//! The CRD oracle: KubeArmor's own CRD schemas, made strict the way the API server's strict field
//! validation is (unknown properties rejected), checked by the `jsonschema` crate.

use super::{kind_of, load_yaml_docs, prune_nulls, yaml_files, LoadError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub struct CrdOracle {
    /// (kind, version) -> validator for that version's openAPIV3Schema.
    validators: BTreeMap<(String, String), jsonschema::Validator>,
    /// The strict schemas, by kind (first version), for mutation generators that walk them.
    pub schemas: BTreeMap<String, Value>,
}

impl CrdOracle {
    pub fn load(crd_dir: &Path) -> CrdOracle {
        let mut validators = BTreeMap::new();
        let mut schemas = BTreeMap::new();
        for file in yaml_files(crd_dir) {
            let text = std::fs::read_to_string(&file).expect("read CRD");
            let docs = load_yaml_docs(&text).unwrap_or_else(|e| panic!("CRD {} does not load: {e:?}", file.display()));
            for crd in docs {
                let kind = crd["spec"]["names"]["kind"].as_str().expect("CRD kind").to_string();
                let versions = crd["spec"]["versions"].as_array().expect("CRD versions");
                for version in versions {
                    let name = version["name"].as_str().expect("version name").to_string();
                    let mut schema = version["schema"]["openAPIV3Schema"].clone();
                    assert!(schema.is_object(), "{kind} {name}: no openAPIV3Schema");
                    forbid_unknown_properties(&mut schema);
                    let validator = jsonschema::draft4::new(&schema)
                        .unwrap_or_else(|e| panic!("{kind} {name}: schema does not compile: {e}"));
                    schemas.entry(kind.clone()).or_insert_with(|| schema.clone());
                    validators.insert((kind.clone(), name), validator);
                }
            }
        }
        assert!(!validators.is_empty(), "no CRD found in {}", crd_dir.display());
        CrdOracle { validators, schemas }
    }

    pub fn knows_kind(&self, kind: &str) -> bool {
        self.schemas.contains_key(kind)
    }

    /// Schema errors of one loaded document: `None` if its kind has no CRD here. Nulls are pruned and
    /// `metadata` dropped first; the version named by apiVersion is used when the CRD has it.
    pub fn errors(&self, doc: &Value) -> Option<Vec<String>> {
        let kind = kind_of(doc)?;
        if !self.knows_kind(kind) {
            return None;
        }
        let version =
            doc.get("apiVersion").and_then(Value::as_str).and_then(|v| v.rsplit_once('/')).map(|(_, v)| v.to_string());
        let validator = version
            .and_then(|v| self.validators.get(&(kind.to_string(), v)))
            .or_else(|| self.validators.iter().find(|((k, _), _)| k == kind).map(|(_, v)| v))?;
        let mut doc = doc.clone();
        prune_nulls(&mut doc);
        if let Some(map) = doc.as_object_mut() {
            map.remove("metadata");
        }
        let errors = validator.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path())).collect();
        Some(errors)
    }

    /// Verdict of a whole YAML text: `Ok(None)` when it holds no document of a CRD kind,
    /// `Ok(Some(errors))` over all such documents, `Err` when the loader refuses the text.
    pub fn check_text(&self, text: &str) -> Result<Option<Vec<String>>, LoadError> {
        let docs = load_yaml_docs(text)?;
        let mut any = false;
        let mut all_errors = Vec::new();
        for doc in &docs {
            if let Some(errors) = self.errors(doc) {
                any = true;
                all_errors.extend(errors);
            }
        }
        Ok(any.then_some(all_errors))
    }
}

/// Set `additionalProperties: false` on every object schema that lists `properties` (strict field
/// validation), leaving maps such as `matchLabels` (which have no `properties`) open.
pub fn forbid_unknown_properties(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, child) in map.iter_mut() {
                match key.as_str() {
                    // `properties` maps names to schemas; its keys are not keywords.
                    "properties" => {
                        if let Value::Object(props) = child {
                            props.values_mut().for_each(forbid_unknown_properties);
                        }
                    }
                    "items" | "additionalProperties" | "not" => forbid_unknown_properties(child),
                    "allOf" | "anyOf" | "oneOf" => {
                        if let Value::Array(list) = child {
                            list.iter_mut().for_each(forbid_unknown_properties);
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(_) | Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}
