#pragma once
// The default plugins, one file each as upstream
// (pkg/scheduler/framework/plugins/...). Private to src/scheduler.

#include <memory>

#include "scheduler/plugin.h"

namespace capstan::scheduler {

struct Config;

// Reason strings, as upstream words them.
inline constexpr std::string_view kReasonNodeName = "node(s) didn't match the requested node name";
inline constexpr std::string_view kReasonUnschedulable = "node(s) were unschedulable";
inline constexpr std::string_view kReasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector";
inline constexpr std::string_view kReasonNodePorts =
    "node(s) didn't have free ports for the requested pod ports";
inline constexpr std::string_view kReasonTooManyPods = "Too many pods";
inline constexpr std::string_view kReasonAffinity = "node(s) didn't match pod affinity rules";
inline constexpr std::string_view kReasonAntiAffinity = "node(s) didn't match pod anti-affinity rules";
inline constexpr std::string_view kReasonExistingAntiAffinity =
    "node(s) didn't satisfy existing pods anti-affinity rules";
inline constexpr std::string_view kReasonSpread = "node(s) didn't match pod topology spread constraints";
inline constexpr std::string_view kReasonSpreadMissingLabel =
    "node(s) didn't match pod topology spread constraints (missing required label)";

std::unique_ptr<Plugin> newNodeUnschedulable();
std::unique_ptr<Plugin> newNodeName();
std::unique_ptr<Plugin> newTaintToleration();
std::unique_ptr<Plugin> newNodeAffinity();
std::unique_ptr<Plugin> newNodePorts();
std::unique_ptr<Plugin> newNodeResourcesFit();
std::unique_ptr<Plugin> newPodTopologySpread(bool default_spreading);
std::unique_ptr<Plugin> newInterPodAffinity(int hard_pod_affinity_weight);
std::unique_ptr<Plugin> newNodeResourcesBalancedAllocation();

}  // namespace capstan::scheduler
