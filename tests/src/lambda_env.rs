//! The environment each function gets from `infra/template.yaml`: the
//! Globals' variables and its own, with every reference resolved to a
//! stand-in (a parameter's default, a queue's URL on the given AWS endpoint,
//! an ARN, a placeholder for a Secrets Manager reference), and what Lambda
//! itself adds from the function's settings (log format and level, memory).
//!
//! The cold-start bench starts each binary with exactly this, so a variable
//! a function needs and the template does not give fails the bench, as it
//! would fail the deployed function.

use std::collections::BTreeMap;
use std::path::Path;

use serde_norway::Value;

/// A function of the template: its binary (the package under `functions/`) and its environment.
#[derive(Clone, Debug)]
pub struct FunctionEnv {
    pub resource: String,
    pub binary: String,
    pub vars: BTreeMap<String, String>,
}

/// Every `AWS::Serverless::Function` of the template, in the template's order.
pub fn functions(template: &Path, aws_endpoint: &str) -> Vec<FunctionEnv> {
    let text =
        std::fs::read_to_string(template).unwrap_or_else(|e| panic!("{}: {e}", template.display()));
    let doc: Value = serde_norway::from_str(&text).expect("the template is YAML");
    let resolver = Resolver {
        doc: &doc,
        aws_endpoint,
    };
    let globals = &doc["Globals"]["Function"];
    let resources = doc["Resources"].as_mapping().expect("Resources");
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, r)| {
            let name = name.as_str().expect("a resource name").to_owned();
            let props = &r["Properties"];
            let code_uri = props["CodeUri"].as_str().expect("CodeUri");
            let binary = code_uri.rsplit('/').next().unwrap().to_owned();
            let mut vars = BTreeMap::new();
            for scope in [globals, props] {
                if let Some(map) = scope["Environment"]["Variables"].as_mapping() {
                    for (k, v) in map {
                        vars.insert(k.as_str().unwrap().to_owned(), resolver.resolve(v));
                    }
                }
            }
            // What Lambda sets from the function's settings.
            let setting = |key: &str| {
                let own = &props[key];
                if own.is_null() { &globals[key] } else { own }
            };
            let logging = setting("LoggingConfig");
            if let Some(format) = logging["LogFormat"].as_str() {
                vars.insert("AWS_LAMBDA_LOG_FORMAT".into(), format.into());
            }
            if !logging["ApplicationLogLevel"].is_null() {
                let level = resolver.resolve(&logging["ApplicationLogLevel"]);
                vars.insert("AWS_LAMBDA_LOG_LEVEL".into(), level);
            }
            vars.insert(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                resolver.resolve(setting("MemorySize")),
            );
            vars.insert("AWS_LAMBDA_FUNCTION_NAME".into(), format!("bench-{name}"));
            FunctionEnv {
                resource: name,
                binary,
                vars,
            }
        })
        .collect()
}

struct Resolver<'a> {
    doc: &'a Value,
    aws_endpoint: &'a str,
}

impl Resolver<'_> {
    fn resolve(&self, value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                match (tag.as_str(), &tagged.value) {
                    ("!Ref", Value::String(name)) => self.reference(name),
                    ("!GetAtt", Value::String(path)) => {
                        let (name, attribute) = path.split_once('.').expect("Resource.Attribute");
                        self.attribute(name, attribute)
                    }
                    ("!Sub", Value::String(text)) => self.substitute(text),
                    ("!If", Value::Sequence(branches)) if branches.len() == 3 => {
                        let condition = branches[0].as_str().expect("a condition's name");
                        if self.condition(condition) {
                            self.resolve(&branches[1])
                        } else {
                            self.resolve(&branches[2])
                        }
                    }
                    _ => panic!("the bench cannot resolve {tag} {:?}", tagged.value),
                }
            }
            other => panic!("an environment variable cannot be {other:?}"),
        }
    }

    /// A condition of the template with every parameter at its default:
    /// `!Equals`, `!Not`, `!And`, `!Or` of references and strings.
    fn condition(&self, name: &str) -> bool {
        let condition = &self.doc["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.truth(condition)
    }

    fn truth(&self, value: &Value) -> bool {
        let Value::Tagged(tagged) = value else {
            panic!("the bench cannot evaluate the condition {value:?}")
        };
        let args = tagged.value.as_sequence().expect("a condition's arguments");
        match tagged.tag.to_string().as_str() {
            "!Equals" => self.resolve(&args[0]) == self.resolve(&args[1]),
            "!Not" => !self.truth(&args[0]),
            "!And" => args.iter().all(|a| self.truth(a)),
            "!Or" => args.iter().any(|a| self.truth(a)),
            other => panic!("the bench cannot evaluate {other}"),
        }
    }

    fn reference(&self, name: &str) -> String {
        match name {
            "AWS::Region" => return "us-east-1".into(),
            "AWS::URLSuffix" => return "amazonaws.com".into(),
            "AWS::AccountId" => return "000000000000".into(),
            "AWS::Partition" => return "aws".into(),
            "AWS::StackName" => return "bench".into(),
            _ => {}
        }
        let parameter = &self.doc["Parameters"][name];
        if !parameter.is_null() {
            return self.resolve(&parameter["Default"]);
        }
        match self.resource_type(name) {
            "AWS::SQS::Queue" => format!("{}/000000000000/bench-{name}", self.aws_endpoint),
            _ => format!("bench-{name}"),
        }
    }

    fn attribute(&self, name: &str, attribute: &str) -> String {
        let service = match self.resource_type(name) {
            "AWS::SQS::Queue" => "sqs",
            "AWS::IAM::Role" => "iam",
            "AWS::DynamoDB::Table" => "dynamodb",
            "AWS::Scheduler::ScheduleGroup" => "scheduler",
            other => panic!("the bench has no stand-in for {other}'s {attribute}"),
        };
        match attribute {
            "Arn" => format!("arn:aws:{service}:us-east-1:000000000000:bench-{name}"),
            "QueueName" | "Name" => format!("bench-{name}"),
            other => panic!("the bench has no stand-in for {name}.{other}"),
        }
    }

    /// `!Sub`: `${Name}` references, and `{{resolve:secretsmanager:...:<key>}}`
    /// replaced by a stand-in secret (long enough for every length check).
    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("a closed ${...}") + start;
            out.push_str(&self.reference(&rest[start + 2..end]));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        if let Some(inner) = out
            .strip_prefix("{{resolve:secretsmanager:")
            .and_then(|s| s.strip_suffix("}}"))
        {
            let key = inner.rsplit(':').next().unwrap_or("secret");
            return format!("bench_{key}_0123456789abcdef0123456789abcdef");
        }
        out
    }

    fn resource_type(&self, name: &str) -> &str {
        self.doc["Resources"][name]["Type"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} is neither a parameter nor a resource"))
    }
}
