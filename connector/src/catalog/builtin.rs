//! The built-in catalog: the five endpoints as the vendors' reference pages state them.
//!
//! Policy: verified facts are fixed; the inferred charge and adjustment paths are marked
//! [`Provenance::Inferred`] and can be overridden ([`Catalog::override_path`]).

use serde_json::json;

use super::{
    AuthScheme, Catalog, Endpoint, EndpointId, Param, Provenance, SchemaFiles, Server, Vendor,
};

const SOLVIMON_ERRORS: [u16; 5] = [400, 401, 403, 409, 500];

fn solvimon(id: EndpointId, title: &'static str, path: &str, provenance: Provenance) -> Endpoint {
    Endpoint {
        id,
        vendor: Vendor::Solvimon,
        title,
        method: "POST",
        path: path.to_owned(),
        path_provenance: provenance,
        optional_prefix: None,
        path_params: vec![Param {
            name: "version",
            kind: "string",
            required: true,
            default: Some(json!("1")),
            description: "API version",
            values: &["1"],
        }],
        query_params: vec![],
        headers: vec![
            Param {
                name: "x-platform-id",
                kind: "string",
                required: false,
                default: None,
                description: "Platform ID.",
                values: &[],
            },
            content_type(),
        ],
        servers: vec![
            Server {
                url: "https://test.api.solvimon.com",
                environment: "sandbox",
            },
            Server {
                url: "https://api.solvimon.com",
                environment: "live",
            },
        ],
        auth: vec![
            AuthScheme {
                scheme: "apiKey",
                header: "X-API-KEY",
                prefix: "",
            },
            AuthScheme {
                scheme: "bearer",
                header: "Authorization",
                prefix: "Bearer ",
            },
        ],
        permission: Some("METER_DATA.INGEST"),
        success_status: 201,
        error_statuses: SOLVIMON_ERRORS.to_vec(),
        schemas: schema_files(id),
    }
}

fn content_type() -> Param {
    Param {
        name: "Content-Type",
        kind: "string",
        required: true,
        default: Some(json!("application/json")),
        description: "The media type of the request body.",
        values: &[],
    }
}

fn schema_files(id: EndpointId) -> SchemaFiles {
    SchemaFiles {
        request: format!("{id}/request.schema.json"),
        response: format!("{id}/response.schema.json"),
        http_task: format!("{id}/http-task.schema.json"),
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Catalog {
    /// The built-in catalog of the five endpoints.
    pub fn builtin() -> Self {
        let mut calculate = solvimon(
            EndpointId::SolvimonCalculateCost,
            "Calculate the costs for an event",
            "/v{version}/events/calculate",
            Provenance::Verified,
        );
        calculate.query_params.push(Param {
            name: "cost_prediction",
            kind: "boolean",
            required: false,
            default: None,
            description: "The option to return cost prediction.",
            values: &[],
        });
        let rebilly = Endpoint {
            id: EndpointId::RebillyCreateUsage,
            vendor: Vendor::Rebilly,
            title: "Creates a usage report",
            method: "POST",
            path: "/usages".to_owned(),
            path_provenance: Provenance::Verified,
            optional_prefix: Some("/organizations/{organizationId}"),
            path_params: vec![Param {
                name: "organizationId",
                kind: "string",
                required: false,
                default: None,
                description: "Organization; when absent the key's default organization is used.",
                values: &[],
            }],
            query_params: vec![],
            headers: vec![content_type()],
            servers: vec![
                Server {
                    url: "https://api-sandbox.rebilly.com",
                    environment: "sandbox",
                },
                Server {
                    url: "https://api.rebilly.com",
                    environment: "live",
                },
            ],
            auth: vec![
                AuthScheme {
                    scheme: "apiKey",
                    header: "REB-APIKEY",
                    prefix: "",
                },
                AuthScheme {
                    scheme: "bearer",
                    header: "Authorization",
                    prefix: "Bearer ",
                },
            ],
            permission: None,
            success_status: 201,
            error_statuses: vec![401, 403, 409, 422, 429],
            schemas: schema_files(EndpointId::RebillyCreateUsage),
        };
        Catalog {
            endpoints: vec![
                solvimon(
                    EndpointId::SolvimonIngestAdjustment,
                    "Ingest adjustment events",
                    "/v{version}/ingest/adjustment-data",
                    Provenance::Inferred,
                ),
                solvimon(
                    EndpointId::SolvimonIngestCharge,
                    "Ingest charge events",
                    "/v{version}/ingest/charge-data",
                    Provenance::Inferred,
                ),
                solvimon(
                    EndpointId::SolvimonIngestPersist,
                    "Ingest persist events",
                    "/v{version}/ingest/persist-data",
                    Provenance::Verified,
                ),
                calculate,
                rebilly,
            ],
        }
    }
}
