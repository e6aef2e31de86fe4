#pragma once
// The keys of core/v1 VolumeSource, in upstream's validateVolumeSource
// order; defaulting and validation both walk them.

namespace capstan::api {

inline constexpr const char* kVolumeSources[] = {
    "emptyDir",          "hostPath",     "gitRepo",       "gcePersistentDisk", "awsElasticBlockStore",
    "secret",            "nfs",          "iscsi",         "glusterfs",         "flocker",
    "persistentVolumeClaim", "rbd",      "cinder",        "cephfs",            "quobyte",
    "downwardAPI",       "fc",           "flexVolume",    "configMap",         "azureFile",
    "vsphereVolume",     "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos",
    "projected",         "scaleIO",      "csi",           "ephemeral",         "image",
};

}  // namespace capstan::api
