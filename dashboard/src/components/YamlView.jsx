import { stringify } from "yaml";

// The object as `kubectl get -o yaml` shows it, without managedFields.
// Objects from a list carry no apiVersion and kind: the caller names them.
export function YamlView({ obj, apiVersion, kind }) {
  if (!obj) return null;
  const { managedFields, ...metadata } = obj.metadata ?? {};
  const doc = { apiVersion: obj.apiVersion ?? apiVersion, kind: obj.kind ?? kind, ...obj, metadata };
  return (
    <pre class="yaml" data-testid="yaml">
      {stringify(doc, { lineWidth: 0 })}
    </pre>
  );
}
