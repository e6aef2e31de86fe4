#pragma once
// Defaulting of the built-in kinds, as kube-apiserver applies it to a
// create or update body before validation: the SetDefaults_* functions of
// the versioned API packages, plus the few values upstream fills in later on
// the write path that clients observe as defaults (the Service IP family fields, the
// Namespace "kubernetes" finalizer and metadata.name label, Secret stringData
// folded into data).
//
// Contract:
// - Only fills what is absent (for Go pointer fields) or empty (for Go
//   string fields); never overwrites a value the client set, never throws,
//   leaves values of an unexpected JSON type alone.
// - Idempotent: applying twice equals applying once.
// - Kinds it does not know are left untouched.
// - Not covered here (server responsibilities): ClusterIP/NodePort
//   allocation, Job selector generation, ServiceAccount admission (token
//   volume, serviceAccountName "default"), status initialisation.

#include "api/registry.h"
#include "common/json.h"

namespace capstan::api {

void applyDefaults(const ResourceInfo& info, Json& obj);

}  // namespace capstan::api
