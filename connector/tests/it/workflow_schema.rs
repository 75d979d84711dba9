//! The published workflow-definition schema (`schemas::workflow_definition_schema`): the model's
//! task shapes, and every Http task that calls a catalog endpoint (URL + method) held to that
//! endpoint's http-task schema, at any depth of Parallel branches; other Http tasks keep the
//! generic shape. The corpus run through Python `jsonschema` and ajv is in
//! `tests/python/test_editor_schema.py` and `tests/js/published-schemas.test.mjs`.

use serde_json::{Value, json};
use usage_connector::catalog::{Catalog, EndpointId};
use usage_connector::schemas::{self, workflow::URL_SHAPE};
use usage_connector::validate::validate_definition;
use usage_connector::validators::{self, Validators, violations};

fn published(catalog: &Catalog) -> jsonschema::Validator {
    validators::compile(
        "workflow-definition",
        &schemas::workflow_definition_schema(catalog),
    )
    .unwrap()
}

fn usage_task(body: Value) -> Value {
    json!({
        "type": "Http",
        "credentials": "rebilly",
        "httpRequest": {
            "url": "https://api-sandbox.rebilly.com/organizations/${$.organizationId}/usages",
            "method": "POST",
            "headers": { "Content-Type": "application/json" },
            "body": body
        },
        "retry": { "intervalSeconds": 1, "maxAttempts": 3, "backoffRate": 2.0 },
        "end": true
    })
}

/// A definition whose start task is `task`, nested in `depth` Parallel tasks (one branch each).
fn nested(task: Value, depth: usize) -> Value {
    let mut start = "Call".to_owned();
    let mut tasks = json!({ "Call": task });
    for level in 0..depth {
        let (parallel, done) = (format!("Fan out {level}"), format!("Done {level}"));
        let mut scope = serde_json::Map::new();
        scope.insert(
            parallel.clone(),
            json!({
                "type": "Parallel",
                "branches": [ { "startTask": start, "tasks": tasks } ],
                "nextTask": done
            }),
        );
        scope.insert(
            done,
            json!({ "type": "Terminate", "terminationStatus": "Completed" }),
        );
        (start, tasks) = (parallel, Value::Object(scope));
    }
    json!({ "name": "Nested", "startTask": start, "tasks": tasks })
}

#[test]
fn workflow_definition_schema_accepts_the_documented_shapes_and_rejects_typos() {
    let v = published(&Catalog::builtin());
    let def = json!({
        "name": "Route by value", "startTask": "Report",
        "tasks": {
            "Report": usage_task(json!({"subscriptionId": "${$.s}", "quantity": "${$.q}"})),
            "Check": { "type": "Decision", "choices": [ { "condition": "$.value >= 20 && $.value < 30", "nextTask": "OK" } ], "defaultTask": "Reject" },
            "Both": { "type": "Parallel", "branches": [ { "startTask": "A", "tasks": { "A": { "type": "Simple", "end": true } } } ], "nextTask": "OK" },
            "OK": { "type": "Terminate", "terminationStatus": "Completed", "workflowOutput": { "accepted": true }, "retry": null },
            "Reject": { "type": "Terminate", "terminationStatus": "Failed" }
        }
    });
    assert_eq!(violations(&v, &def), vec![]);
    let mut typo = def.clone();
    typo["tasks"]["Check"]["defaultTaks"] = json!("Reject");
    assert!(!v.is_valid(&typo));
    let mut bad_type = def.clone();
    bad_type["tasks"]["OK"]["type"] = json!("Succeed");
    assert!(!v.is_valid(&bad_type));
    let mut long_name = def;
    long_name["tasks"]["x".repeat(81)] = json!({ "type": "Simple", "end": true });
    assert!(!v.is_valid(&long_name));
}

#[test]
fn a_catalog_task_is_held_to_its_endpoint_at_any_depth() {
    let v = published(&Catalog::builtin());
    let good = json!({"subscriptionId": "sub_1", "quantity": "${$.q}", "usageTime": ""});
    for depth in 0..4 {
        let ok = nested(usage_task(good.clone()), depth);
        assert_eq!(violations(&v, &ok), vec![], "depth {depth}");
        for bad in [
            json!({"subscriptionId": "sub_1", "quantityy": 1}),
            json!({"quantity": 1}),
            json!({"subscriptionId": "sub_1", "quantity": "12.5"}),
            json!({"subscriptionId": "sub_1", "quantity": 0.0005}),
            json!({"subscriptionId": "sub_1", "quantity": 1, "usageTime": "yesterday"}),
        ] {
            let def = nested(usage_task(bad.clone()), depth);
            assert!(!v.is_valid(&def), "depth {depth}: {bad}");
        }
    }
    let mut text_plain = usage_task(good);
    text_plain["httpRequest"]["headers"]["Content-Type"] = json!("text/plain");
    assert!(!v.is_valid(&nested(text_plain, 2)));
}

#[test]
fn every_endpoint_is_selected_by_its_urls_and_method_only() {
    let catalog = Catalog::builtin();
    let v = published(&catalog);
    let task = |url: &str, method: &str, body: Value| {
        nested(
            json!({ "type": "Http", "credentials": "c", "end": true,
                    "httpRequest": { "url": url, "method": method, "body": body } }),
            1,
        )
    };
    let unknown = json!({"not_a_field": true});
    for endpoint in &catalog.endpoints {
        let mut urls = vec![endpoint.url_for(&[], &[]).unwrap()];
        for server in &endpoint.servers {
            let path = endpoint.path.replace("{version}", "${$.version}");
            urls.push(format!("{}{path}", server.url));
        }
        for url in &urls {
            let id = endpoint.id;
            assert!(
                v.is_valid(&task(url, "POST", json!("${$.body}"))),
                "{id} {url}"
            );
            assert!(
                !v.is_valid(&task(url, "POST", unknown.clone())),
                "{id} {url}"
            );
            // Another method on the same URL is no catalog call: generic shape, any body.
            assert!(v.is_valid(&task(url, "PUT", unknown.clone())), "{id} {url}");
        }
    }
    for url in [
        "https://billing.example.com/usages",
        "https://api.rebilly.com/organizations//usages",
        "https://api.solvimon.com/v1/ingest/persist-data/extra",
        "${$.url}",
    ] {
        assert!(v.is_valid(&task(url, "POST", unknown.clone())), "{url}");
    }
}

#[test]
fn each_selection_is_its_endpoints_http_task_request() {
    let catalog = Catalog::builtin();
    let schema = schemas::workflow_definition_schema(&catalog);
    let defs = schema["$defs"].as_object().unwrap();
    let selections = defs["Task"]["allOf"].as_array().unwrap();
    assert_eq!(selections.len(), catalog.endpoints.len());
    let http_variant = defs["Task"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["properties"]["type"]["const"] == "Http")
        .unwrap();
    let without = |props: &Value| {
        let mut props = props.as_object().unwrap().clone();
        props.remove("type");
        props.remove("httpRequest");
        props
    };
    for (endpoint, selection) in catalog.endpoints.iter().zip(selections) {
        let http_task = schemas::http_task_schema(endpoint);
        let request = &selection["if"]["properties"]["httpRequest"]["properties"];
        assert_eq!(request["url"]["pattern"], endpoint.url_pattern());
        assert_eq!(request["method"]["const"], endpoint.method);
        let name = format!("{}.HttpRequest", endpoint.id);
        assert_eq!(
            selection["then"]["properties"]["httpRequest"]["$ref"],
            format!("#/$defs/{name}")
        );
        assert_eq!(defs[&name], http_task["properties"]["httpRequest"]);
        for (def, content) in http_task["$defs"].as_object().unwrap() {
            assert_eq!(defs.get(def), Some(content), "{}: $defs/{def}", endpoint.id);
        }
        // Only httpRequest is selected: the rest of the http-task schema is the generic task.
        assert_eq!(
            without(&http_task["properties"]),
            without(&http_variant["properties"])
        );
    }
}

#[test]
fn the_selection_follows_path_overrides() {
    let mut catalog = Catalog::builtin();
    catalog
        .override_path(
            EndpointId::SolvimonIngestCharge,
            "/v{version}/events/charge",
        )
        .unwrap();
    let v = published(&catalog);
    let charge = |url: &str| {
        nested(
            json!({ "type": "Http", "credentials": "c", "end": true,
                    "httpRequest": { "url": url, "method": "POST", "body": { "pricing_id": 1 } } }),
            0,
        )
    };
    assert!(!v.is_valid(&charge("https://api.solvimon.com/v1/events/charge")));
    assert!(v.is_valid(&charge("https://api.solvimon.com/v1/ingest/charge-data")));
}

#[test]
fn the_generic_url_shape_is_never_stricter_than_validate() {
    let v = published(&Catalog::builtin());
    let check = |url: &str| {
        let def = nested(
            json!({ "type": "Http", "end": true, "httpRequest": { "url": url, "method": "GET" } }),
            0,
        );
        let report = validate_definition(
            "u.json",
            &serde_json::to_vec(&def).unwrap(),
            Validators::builtin(),
            None,
        );
        (
            v.is_valid(&def),
            report.diagnostics.iter().any(|d| d.code == "E-URL"),
        )
    };
    for url in [
        "https://billing.example.com/usages",
        "http://localhost:8080/x?y=1",
        "https://${$.host}/x",
        "https://a.example/${$['a b']}/c",
        "${$.url}",
        "${jsonata:$.url}",
        "jsonata:$.url",
    ] {
        assert_eq!(check(url), (true, false), "{url}");
    }
    // What editors catch: no scheme, another scheme, a relative or partly dynamic start.
    for url in [
        "api-sandbox.rebilly.com/usages",
        "ftp://files.example/x",
        "/usages",
        "${$.base}/usages",
    ] {
        assert_eq!(check(url), (false, true), "{url}");
    }
    // What only validate catches: the host, port and path once placeholders are filled in.
    for url in ["https://", "https://host:${$.port}/x", "${$.a}${$.b}"] {
        assert_eq!(check(url), (true, true), "{url}");
    }
    assert!(URL_SHAPE.starts_with('^'));
}
