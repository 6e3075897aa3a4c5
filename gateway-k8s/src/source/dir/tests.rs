use super::*;

const MULTI: &str = "\
# Routes for the demo.
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: apps
spec:
  parentRefs:
  - name: gw
  rules:
  - backendRefs:
    - name: web
      port: 80
    timeout: 5s
";

fn load(text: &str) -> (Loaded, Vec<ParseError>) {
    let contents = DirContents {
        files: vec![(PathBuf::from("m/routes.yaml"), text.to_owned())],
    };
    contents.decode()
}

#[test]
fn multi_document_file() {
    let (loaded, errors) = load(MULTI);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(loaded.objects, 2);
    assert_eq!(loaded.snapshot.services.len(), 1);
    assert_eq!(loaded.snapshot.http_routes.len(), 1);
    assert_eq!(
        loaded.snapshot.services[0].metadata.namespace.as_deref(),
        Some("default")
    );
    assert_eq!(
        loaded.warnings,
        [
            "m/routes.yaml: document 3 (line 17): HTTPRoute apps/web: unknown field `spec.rules[0].timeout`"
        ]
    );
}

#[test]
fn syntax_error_in_third_document_points_into_the_file() {
    let text = "\
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
apiVersion: v1
kind: Namespace
metadata: {name: b}
---
apiVersion: v1
kind: Service
metadata:
  name: c
  labels: {app: [web}
";
    let (_, errors) = load(text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    assert_eq!(error.file, Path::new("m/routes.yaml"));
    assert_eq!(error.document, 2);
    assert_eq!(error.line, 13);
    assert!(
        error
            .to_string()
            .starts_with("m/routes.yaml: document 2 (line 13): "),
        "{error}"
    );
}

#[test]
fn every_failing_document_is_listed() {
    let text = "\
kind: Service
---
apiVersion: v1
kind: Service
metadata: {name: ok}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - backendRefs:
    - name: web
      weight: heavy
";
    let (loaded, errors) = load(text);
    assert_eq!(loaded.objects, 1);
    let errors: Vec<_> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "m/routes.yaml: document 0 (line 1): missing `apiVersion`",
            "m/routes.yaml: document 2 (line 14): spec.rules[0].backendRefs[0].weight: \
             invalid value `heavy`, expected u32",
        ]
    );
}

#[test]
fn byte_order_mark_is_ignored() {
    let (loaded, errors) =
        load("\u{feff}---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(loaded.snapshot.namespaces.len(), 1);
}

#[test]
fn yaml_extensions() {
    assert!(is_yaml(Path::new("a/b.yaml")));
    assert!(is_yaml(Path::new("b.YML")));
    assert!(!is_yaml(Path::new("b.json")));
    assert!(!is_yaml(Path::new("yaml")));
}
