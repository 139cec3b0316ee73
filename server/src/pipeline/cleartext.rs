//! Cleartext Secrets: a rendered `Secret` whose `data` or `stringData` holds values in the
//! clear must never be committed to the GitOps repository, where every reader of the
//! branch (and its whole history) would have them. CD refuses such a render; render-lint
//! warns about it in PR runs.
//!
//! What passes:
//! - SOPS-encrypted Secrets: a top-level `sops:` block and every value in the form
//!   `ENC[…]` (Flux's kustomize-controller decrypts them in the cluster). A SOPS file
//!   that leaves some value unencrypted (`unencrypted_suffix`, a narrow
//!   `encrypted_regex`) is refused: that value is cleartext.
//! - SealedSecrets and ExternalSecrets: other kinds, holding no cleartext value.
//! - Secrets without values (a service-account token Secret, say).

use kustomize::value::Value;

/// `Secret <namespace>/<name>` of every object that holds a cleartext value.
pub fn cleartext_secrets(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| {
            o.str_at(&["kind"]) == Some("Secret") && o.str_at(&["apiVersion"]) == Some("v1")
        })
        .filter(|o| has_cleartext(o))
        .map(|o| {
            let name = o.str_at(&["metadata", "name"]).unwrap_or("?");
            match o.str_at(&["metadata", "namespace"]) {
                Some(ns) => format!("Secret {ns}/{name}"),
                None => format!("Secret {name}"),
            }
        })
        .collect()
}

fn has_cleartext(secret: &Value) -> bool {
    let sops = secret.get("sops").and_then(Value::as_map).is_some();
    ["data", "stringData"].iter().any(|field| {
        let Some(values) = secret.get(field).and_then(Value::as_map) else {
            return false;
        };
        values.iter().any(|(_, v)| {
            let encrypted = v
                .as_str()
                .is_some_and(|s| s.starts_with("ENC[") && s.ends_with(']'));
            !(sops && encrypted)
        })
    })
}

/// The error CD gives for them.
pub fn refusal(found: &[String]) -> String {
    format!(
        "refusing to commit cleartext Secret values to the GitOps repository: {}; encrypt them \
         with SOPS, or use SealedSecrets or ExternalSecrets (see README, \"Where Secrets go\")",
        found.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(yaml: &str) -> Vec<Value> {
        kustomize::yaml_parse::parse_documents(yaml, std::path::Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn cleartext_is_found_and_encrypted_forms_pass() {
        let found = cleartext_secrets(&objects(
            r#"
apiVersion: v1
kind: Secret
metadata: {name: plain, namespace: prod}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Secret
metadata: {name: sops}
data: {password: "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]"}
sops: {mac: "ENC[AES256_GCM,data:m]", version: 3.8.1}
---
apiVersion: v1
kind: Secret
metadata: {name: half-sops}
data: {password: "ENC[AES256_GCM,data:abc=]", user_unencrypted: YWRtaW4=}
sops: {version: 3.8.1}
---
apiVersion: v1
kind: Secret
metadata: {name: forged}
data: {password: "ENC[not really]"}
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: sealed}
spec: {encryptedData: {password: AgBy3i4OJSWK}}
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata: {name: external}
spec: {data: [{secretKey: password, remoteRef: {key: db}}]}
---
apiVersion: v1
kind: Secret
metadata: {name: token}
type: kubernetes.io/service-account-token
"#,
        ));
        assert_eq!(
            found,
            ["Secret prod/plain", "Secret half-sops", "Secret forged"]
        );
    }
}
