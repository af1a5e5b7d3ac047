"""Protobuf field tables of meta/v1 and the API groups other than core.

Data only, read by ``kubelite.api.protobuf.messages`` (the spec format is described there).
Written from upstream's generated.proto and types.go of Kubernetes 1.37 (apimachinery
``pkg/apis/meta/v1`` and ``k8s.io/api/<group>/<version>``); covers every message reachable
from the root kinds in ``messages.ROOT_KINDS``, and ControllerRevision, NetworkPolicy,
IngressClass, EndpointSlice and StorageClass, which only ``kubelite.api.omitempty`` reads
(no protobuf body of theirs is accepted). ``scheduling/v1alpha3`` is here only because
batch/v1 ``JobSpec`` refers to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

META_V1: Final[dict[str, str]] = {
    "Condition": (
        "1 type!; 2 status!; 3 observedGeneration:i64; 4 lastTransitionTime:Time; 5 reason!; "
        "6 message!"
    ),
    "DeleteOptions": (
        "1 gracePeriodSeconds:i64!; 2 preconditions:Preconditions!; 3 orphanDependents:bool!; "
        "4 propagationPolicy!; 5 dryRun:[str]; "
        "6 ignoreStoreReadErrorWithClusterBreakingPotential:bool!"
    ),
    "FieldSelectorRequirement": "1 key!; 2 operator!; 3 values:[str]",
    "LabelSelector": "1 matchLabels:{str}; 2 matchExpressions:[LabelSelectorRequirement]",
    "LabelSelectorRequirement": "1 key!; 2 operator!; 3 values:[str]",
    "ManagedFieldsEntry": (
        "1 manager; 2 operation; 3 apiVersion; 4 time:Time!; 6 fieldsType; 7 fieldsV1:FieldsV1!; "
        "8 subresource"
    ),
    "ObjectMeta": (
        "1 name; 2 generateName; 3 namespace; 4 selfLink; 5 uid; 6 resourceVersion; "
        "7 generation:i64; 8 creationTimestamp:Time; 9 deletionTimestamp:Time!; "
        "10 deletionGracePeriodSeconds:i64!; 11 labels:{str}; 12 annotations:{str}; "
        "13 ownerReferences:[OwnerReference]; 14 finalizers:[str]; "
        "17 managedFields:[ManagedFieldsEntry]"
    ),
    "OwnerReference": (
        "5 apiVersion!; 1 kind!; 3 name!; 4 uid!; 6 controller:bool!; 7 blockOwnerDeletion:bool!"
    ),
    "Preconditions": "1 uid!; 2 resourceVersion!",
}

APPS_V1: Final[dict[str, str]] = {
    "ControllerRevision": "1 metadata:meta/v1.ObjectMeta; 2 data:RawExtension; 3 revision:i64!",
    "DaemonSet": "1 metadata:meta/v1.ObjectMeta; 2 spec:DaemonSetSpec; 3 status:DaemonSetStatus",
    "DaemonSetCondition": "1 type!; 2 status!; 3 lastTransitionTime:Time; 4 reason; 5 message",
    "DaemonSetSpec": (
        "1 selector:meta/v1.LabelSelector!; 2 template:core/v1.PodTemplateSpec; "
        "3 updateStrategy:DaemonSetUpdateStrategy; 4 minReadySeconds:i32; "
        "6 revisionHistoryLimit:i32!"
    ),
    "DaemonSetStatus": (
        "1 currentNumberScheduled:i32!; 2 numberMisscheduled:i32!; 3 desiredNumberScheduled:i32!; "
        "4 numberReady:i32!; 5 observedGeneration:i64; 6 updatedNumberScheduled:i32; "
        "7 numberAvailable:i32; 8 numberUnavailable:i32; 9 collisionCount:i32!; "
        "10 conditions:[DaemonSetCondition]"
    ),
    "DaemonSetUpdateStrategy": "1 type; 2 rollingUpdate:RollingUpdateDaemonSet!",
    "Deployment": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:DeploymentSpec; 3 status:DeploymentStatus"
    ),
    "DeploymentCondition": (
        "1 type!; 2 status!; 6 lastUpdateTime:Time; 7 lastTransitionTime:Time; 4 reason; 5 message"
    ),
    "DeploymentSpec": (
        "1 replicas:i32!; 2 selector:meta/v1.LabelSelector!; 3 template:core/v1.PodTemplateSpec; "
        "4 strategy:DeploymentStrategy; 5 minReadySeconds:i32; 6 revisionHistoryLimit:i32!; "
        "7 paused:bool; 9 progressDeadlineSeconds:i32!"
    ),
    "DeploymentStatus": (
        "1 observedGeneration:i64; 2 replicas:i32; 3 updatedReplicas:i32; 7 readyReplicas:i32; "
        "4 availableReplicas:i32; 5 unavailableReplicas:i32; 9 terminatingReplicas:i32!; "
        "6 conditions:[DeploymentCondition]; 8 collisionCount:i32!"
    ),
    "DeploymentStrategy": "1 type; 2 rollingUpdate:RollingUpdateDeployment!",
    "ReplicaSet": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:ReplicaSetSpec; 3 status:ReplicaSetStatus"
    ),
    "ReplicaSetCondition": "1 type!; 2 status!; 3 lastTransitionTime:Time; 4 reason; 5 message",
    "ReplicaSetSpec": (
        "1 replicas:i32!; 4 minReadySeconds:i32; 2 selector:meta/v1.LabelSelector!; "
        "3 template:core/v1.PodTemplateSpec"
    ),
    "ReplicaSetStatus": (
        "1 replicas:i32!; 2 fullyLabeledReplicas:i32; 4 readyReplicas:i32; "
        "5 availableReplicas:i32; 7 terminatingReplicas:i32!; 3 observedGeneration:i64; "
        "6 conditions:[ReplicaSetCondition]"
    ),
    "RollingUpdateDaemonSet": "1 maxUnavailable:IntOrString!; 2 maxSurge:IntOrString!",
    "RollingUpdateDeployment": "1 maxUnavailable:IntOrString!; 2 maxSurge:IntOrString!",
    "RollingUpdateStatefulSetStrategy": "1 partition:i32!; 2 maxUnavailable:IntOrString!",
    "StatefulSet": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:StatefulSetSpec; 3 status:StatefulSetStatus"
    ),
    "StatefulSetCondition": "1 type!; 2 status!; 3 lastTransitionTime:Time; 4 reason; 5 message",
    "StatefulSetOrdinals": "1 start:i32!",
    "StatefulSetPersistentVolumeClaimRetentionPolicy": "1 whenDeleted; 2 whenScaled",
    "StatefulSetSpec": (
        "1 replicas:i32!; 2 selector:meta/v1.LabelSelector!; 3 template:core/v1.PodTemplateSpec; "
        "4 volumeClaimTemplates:[core/v1.PersistentVolumeClaim]; 5 serviceName!; "
        "6 podManagementPolicy; 7 updateStrategy:StatefulSetUpdateStrategy; "
        "8 revisionHistoryLimit:i32!; 9 minReadySeconds:i32; "
        "10 persistentVolumeClaimRetentionPolicy:StatefulSetPersistentVolumeClaimRetentionPolicy!; "
        "11 ordinals:StatefulSetOrdinals!"
    ),
    "StatefulSetStatus": (
        "1 observedGeneration:i64; 2 replicas:i32!; 3 readyReplicas:i32; 4 currentReplicas:i32; "
        "5 updatedReplicas:i32; 6 currentRevision; 7 updateRevision; 9 collisionCount:i32!; "
        "10 conditions:[StatefulSetCondition]; 11 availableReplicas:i32!"
    ),
    "StatefulSetUpdateStrategy": "1 type; 2 rollingUpdate:RollingUpdateStatefulSetStrategy!",
}

BATCH_V1: Final[dict[str, str]] = {
    "CronJob": "1 metadata:meta/v1.ObjectMeta; 2 spec:CronJobSpec; 3 status:CronJobStatus",
    "CronJobSpec": (
        "1 schedule!; 8 timeZone!; 2 startingDeadlineSeconds:i64!; 3 concurrencyPolicy; "
        "4 suspend:bool!; 5 jobTemplate:JobTemplateSpec; 6 successfulJobsHistoryLimit:i32!; "
        "7 failedJobsHistoryLimit:i32!"
    ),
    "CronJobStatus": (
        "1 active:[core/v1.ObjectReference]; 4 lastScheduleTime:Time!; 5 lastSuccessfulTime:Time!"
    ),
    "Job": "1 metadata:meta/v1.ObjectMeta; 2 spec:JobSpec; 3 status:JobStatus",
    "JobCondition": (
        "1 type!; 2 status!; 3 lastProbeTime:Time; 4 lastTransitionTime:Time; 5 reason; 6 message"
    ),
    "JobSchedulingConfiguration": (
        "1 schedulingPolicy:scheduling/v1alpha3.WorkloadPodGroupSchedulingPolicy!; "
        "2 schedulingConstraints:scheduling/v1alpha3.WorkloadPodGroupSchedulingConstraints!; "
        "3 disruptionMode:scheduling/v1alpha3.WorkloadPodGroupDisruptionMode!; "
        "4 resourceClaims:[scheduling/v1alpha3.WorkloadPodGroupResourceClaim]"
    ),
    "JobSpec": (
        "1 parallelism:i32!; 2 completions:i32!; 3 activeDeadlineSeconds:i64!; "
        "11 podFailurePolicy:PodFailurePolicy!; 16 successPolicy:SuccessPolicy!; "
        "7 backoffLimit:i32!; 12 backoffLimitPerIndex:i32!; 13 maxFailedIndexes:i32!; "
        "4 selector:meta/v1.LabelSelector!; 5 manualSelector:bool!; "
        "6 template:core/v1.PodTemplateSpec; 8 ttlSecondsAfterFinished:i32!; 9 completionMode!; "
        "10 suspend:bool!; 14 podReplacementPolicy!; 15 managedBy!; "
        "17 scheduling:JobSchedulingConfiguration!"
    ),
    "JobStatus": (
        "1 conditions:[JobCondition]; 2 startTime:Time!; 3 completionTime:Time!; 4 active:i32; "
        "5 succeeded:i32; 6 failed:i32; 11 terminating:i32!; 7 completedIndexes; "
        "10 failedIndexes!; 8 uncountedTerminatedPods:UncountedTerminatedPods!; 9 ready:i32!"
    ),
    "JobTemplateSpec": "1 metadata:meta/v1.ObjectMeta; 2 spec:JobSpec",
    "PodFailurePolicy": "1 rules:[PodFailurePolicyRule]!",
    "PodFailurePolicyOnExitCodesRequirement": "1 containerName!; 2 operator!; 3 values:[i32]!",
    "PodFailurePolicyOnPodConditionsPattern": "1 type!; 2 status!",
    "PodFailurePolicyRule": (
        "1 action!; 2 onExitCodes:PodFailurePolicyOnExitCodesRequirement!; "
        "3 onPodConditions:[PodFailurePolicyOnPodConditionsPattern]"
    ),
    "SuccessPolicy": "1 rules:[SuccessPolicyRule]!",
    "SuccessPolicyRule": "1 succeededIndexes!; 2 succeededCount:i32!",
    "UncountedTerminatedPods": "1 succeeded:[str]; 2 failed:[str]",
}

SCHEDULING_V1ALPHA3: Final[dict[str, str]] = {
    "TopologyConstraint": "1 key!",
    "WorkloadPodGroupAllDisruptionMode": "",
    "WorkloadPodGroupBasicSchedulingPolicy": "",
    "WorkloadPodGroupDisruptionMode": (
        "1 single:WorkloadPodGroupSingleDisruptionMode!; 2 all:WorkloadPodGroupAllDisruptionMode!"
    ),
    "WorkloadPodGroupGangSchedulingPolicy": "1 minCount:i32!",
    "WorkloadPodGroupResourceClaim": "1 name!; 2 resourceClaimName!; 3 resourceClaimTemplateName!",
    "WorkloadPodGroupSchedulingConstraints": "1 topology:[TopologyConstraint]",
    "WorkloadPodGroupSchedulingPolicy": (
        "1 basic:WorkloadPodGroupBasicSchedulingPolicy!; "
        "2 gang:WorkloadPodGroupGangSchedulingPolicy!"
    ),
    "WorkloadPodGroupSingleDisruptionMode": "",
}

POLICY_V1: Final[dict[str, str]] = {
    "Eviction": "1 metadata:meta/v1.ObjectMeta; 2 deleteOptions:meta/v1.DeleteOptions!",
    "PodDisruptionBudget": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:PodDisruptionBudgetSpec; "
        "3 status:PodDisruptionBudgetStatus"
    ),
    "PodDisruptionBudgetSpec": (
        "1 minAvailable:IntOrString!; 2 selector:meta/v1.LabelSelector!; "
        "3 maxUnavailable:IntOrString!; 4 unhealthyPodEvictionPolicy!"
    ),
    "PodDisruptionBudgetStatus": (
        "1 observedGeneration:i64; 2 disruptedPods:{Time}; 3 disruptionsAllowed:i32!; "
        "4 currentHealthy:i32!; 5 desiredHealthy:i32!; 6 expectedPods:i32!; "
        "7 conditions:[meta/v1.Condition]"
    ),
}

AUTOSCALING_V1: Final[dict[str, str]] = {
    "CrossVersionObjectReference": "1 kind!; 2 name!; 3 apiVersion",
    "HorizontalPodAutoscaler": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:HorizontalPodAutoscalerSpec; "
        "3 status:HorizontalPodAutoscalerStatus"
    ),
    "HorizontalPodAutoscalerSpec": (
        "1 scaleTargetRef:CrossVersionObjectReference; 2 minReplicas:i32!; 3 maxReplicas:i32!; "
        "4 targetCPUUtilizationPercentage:i32!"
    ),
    "HorizontalPodAutoscalerStatus": (
        "1 observedGeneration:i64!; 2 lastScaleTime:Time!; 3 currentReplicas:i32!; "
        "4 desiredReplicas:i32!; 5 currentCPUUtilizationPercentage:i32!"
    ),
    "Scale": "1 metadata:meta/v1.ObjectMeta; 2 spec:ScaleSpec; 3 status:ScaleStatus",
    "ScaleSpec": "1 replicas:i32",
    "ScaleStatus": "1 replicas:i32!; 2 selector",
}

AUTOSCALING_V2: Final[dict[str, str]] = {
    "ContainerResourceMetricSource": "1 name!; 2 target:MetricTarget; 3 container!",
    "ContainerResourceMetricStatus": "1 name!; 2 current:MetricValueStatus; 3 container!",
    "CrossVersionObjectReference": "1 kind!; 2 name!; 3 apiVersion",
    "ExternalMetricSource": "1 metric:MetricIdentifier; 2 target:MetricTarget",
    "ExternalMetricStatus": "1 metric:MetricIdentifier; 2 current:MetricValueStatus",
    "HPAScalingPolicy": "1 type!; 2 value:i32!; 3 periodSeconds:i32!",
    "HPAScalingRules": (
        "3 stabilizationWindowSeconds:i32!; 1 selectPolicy!; 2 policies:[HPAScalingPolicy]; "
        "4 tolerance:Quantity!"
    ),
    "HorizontalPodAutoscaler": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:HorizontalPodAutoscalerSpec; "
        "3 status:HorizontalPodAutoscalerStatus"
    ),
    "HorizontalPodAutoscalerBehavior": "1 scaleUp:HPAScalingRules!; 2 scaleDown:HPAScalingRules!",
    "HorizontalPodAutoscalerCondition": (
        "1 type!; 2 status!; 3 lastTransitionTime:Time; 4 reason; 5 message; "
        "6 observedGeneration:i64!"
    ),
    "HorizontalPodAutoscalerSpec": (
        "1 scaleTargetRef:CrossVersionObjectReference; 2 minReplicas:i32!; 3 maxReplicas:i32!; "
        "4 metrics:[MetricSpec]; 5 behavior:HorizontalPodAutoscalerBehavior!"
    ),
    "HorizontalPodAutoscalerStatus": (
        "1 observedGeneration:i64!; 2 lastScaleTime:Time!; 3 currentReplicas:i32; "
        "4 desiredReplicas:i32!; 5 currentMetrics:[MetricStatus]!; "
        "6 conditions:[HorizontalPodAutoscalerCondition]"
    ),
    "MetricIdentifier": "1 name!; 2 selector:meta/v1.LabelSelector!",
    "MetricSpec": (
        "1 type!; 2 object:ObjectMetricSource!; 3 pods:PodsMetricSource!; "
        "4 resource:ResourceMetricSource!; 7 containerResource:ContainerResourceMetricSource!; "
        "5 external:ExternalMetricSource!"
    ),
    "MetricStatus": (
        "1 type!; 2 object:ObjectMetricStatus!; 3 pods:PodsMetricStatus!; "
        "4 resource:ResourceMetricStatus!; 7 containerResource:ContainerResourceMetricStatus!; "
        "5 external:ExternalMetricStatus!"
    ),
    "MetricTarget": (
        "1 type!; 2 value:Quantity!; 3 averageValue:Quantity!; 4 averageUtilization:i32!"
    ),
    "MetricValueStatus": "1 value:Quantity!; 2 averageValue:Quantity!; 3 averageUtilization:i32!",
    "ObjectMetricSource": (
        "1 describedObject:CrossVersionObjectReference; 2 target:MetricTarget; "
        "3 metric:MetricIdentifier"
    ),
    "ObjectMetricStatus": (
        "1 metric:MetricIdentifier; 2 current:MetricValueStatus; "
        "3 describedObject:CrossVersionObjectReference"
    ),
    "PodsMetricSource": "1 metric:MetricIdentifier; 2 target:MetricTarget",
    "PodsMetricStatus": "1 metric:MetricIdentifier; 2 current:MetricValueStatus",
    "ResourceMetricSource": "1 name!; 2 target:MetricTarget",
    "ResourceMetricStatus": "1 name!; 2 current:MetricValueStatus",
}

AUTHORIZATION_V1: Final[dict[str, str]] = {
    "ExtraValue": "=1 items:[str]",
    "FieldSelectorAttributes": "1 rawSelector; 2 requirements:[meta/v1.FieldSelectorRequirement]",
    "LabelSelectorAttributes": "1 rawSelector; 2 requirements:[meta/v1.LabelSelectorRequirement]",
    "LocalSubjectAccessReview": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:SubjectAccessReviewSpec; "
        "3 status:SubjectAccessReviewStatus"
    ),
    "NonResourceAttributes": "1 path; 2 verb",
    "NonResourceRule": "1 verbs:[str]!; 2 nonResourceURLs:[str]",
    "ResourceAttributes": (
        "1 namespace; 2 verb; 3 group; 4 version; 5 resource; 6 subresource; 7 name; "
        "8 fieldSelector:FieldSelectorAttributes!; 9 labelSelector:LabelSelectorAttributes!"
    ),
    "ResourceRule": "1 verbs:[str]!; 2 apiGroups:[str]; 3 resources:[str]; 4 resourceNames:[str]",
    "SelfSubjectAccessReview": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:SelfSubjectAccessReviewSpec; "
        "3 status:SubjectAccessReviewStatus"
    ),
    "SelfSubjectAccessReviewSpec": (
        "1 resourceAttributes:ResourceAttributes!; 2 nonResourceAttributes:NonResourceAttributes!"
    ),
    "SelfSubjectRulesReview": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:SelfSubjectRulesReviewSpec; "
        "3 status:SubjectRulesReviewStatus"
    ),
    "SelfSubjectRulesReviewSpec": "1 namespace",
    "SubjectAccessReview": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:SubjectAccessReviewSpec; "
        "3 status:SubjectAccessReviewStatus"
    ),
    "SubjectAccessReviewSpec": (
        "1 resourceAttributes:ResourceAttributes!; "
        "2 nonResourceAttributes:NonResourceAttributes!; 3 user; 4 groups:[str]; "
        "5 extra:{ExtraValue}; 6 uid"
    ),
    "SubjectAccessReviewStatus": "1 allowed:bool!; 4 denied:bool; 2 reason; 3 evaluationError",
    "SubjectRulesReviewStatus": (
        "1 resourceRules:[ResourceRule]!; 2 nonResourceRules:[NonResourceRule]!; "
        "3 incomplete:bool!; 4 evaluationError"
    ),
}

AUTHENTICATION_V1: Final[dict[str, str]] = {
    "AttestationValue": "=1 items:[str]",
    "BoundObjectReference": "1 kind; 2 apiVersion; 3 name; 4 uid",
    "ExtraValue": "=1 items:[str]",
    "SelfSubjectReview": "1 metadata:meta/v1.ObjectMeta; 2 status:SelfSubjectReviewStatus",
    "SelfSubjectReviewStatus": "1 userInfo:UserInfo",
    "TokenRequest": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:TokenRequestSpec; 3 status:TokenRequestStatus"
    ),
    "TokenRequestSpec": (
        "1 audiences:[str]!; 4 expirationSeconds:i64!; 3 boundObjectRef:BoundObjectReference!; "
        "5 attestations:{AttestationValue}"
    ),
    "TokenRequestStatus": "1 token!; 2 expirationTimestamp:Time",
    "TokenReview": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:TokenReviewSpec; 3 status:TokenReviewStatus"
    ),
    "TokenReviewSpec": "1 token; 2 audiences:[str]",
    "TokenReviewStatus": "1 authenticated:bool; 2 user:UserInfo; 4 audiences:[str]; 3 error",
    "UserInfo": "1 username; 2 uid; 3 groups:[str]; 4 extra:{ExtraValue}",
}

COORDINATION_V1: Final[dict[str, str]] = {
    "Lease": "1 metadata:meta/v1.ObjectMeta; 2 spec:LeaseSpec",
    "LeaseSpec": (
        "1 holderIdentity!; 2 leaseDurationSeconds:i32!; 3 acquireTime:MicroTime!; "
        "4 renewTime:MicroTime!; 5 leaseTransitions:i32!; 6 strategy!; 7 preferredHolder!"
    ),
}

EVENTS_V1: Final[dict[str, str]] = {
    "Event": (
        "1 metadata:meta/v1.ObjectMeta; 2 eventTime:MicroTime; 3 series:EventSeries!; "
        "4 reportingController; 5 reportingInstance; 6 action; 7 reason; "
        "8 regarding:core/v1.ObjectReference; 9 related:core/v1.ObjectReference!; 10 note; "
        "11 type; 12 deprecatedSource:core/v1.EventSource; 13 deprecatedFirstTimestamp:Time; "
        "14 deprecatedLastTimestamp:Time; 15 deprecatedCount:i32"
    ),
    "EventSeries": "1 count:i32!; 2 lastObservedTime:MicroTime",
}

RBAC_V1: Final[dict[str, str]] = {
    "AggregationRule": "1 clusterRoleSelectors:[meta/v1.LabelSelector]",
    "ClusterRole": (
        "1 metadata:meta/v1.ObjectMeta; 2 rules:[PolicyRule]!; 3 aggregationRule:AggregationRule!"
    ),
    "ClusterRoleBinding": "1 metadata:meta/v1.ObjectMeta; 2 subjects:[Subject]; 3 roleRef:RoleRef",
    "PolicyRule": (
        "1 verbs:[str]!; 2 apiGroups:[str]; 3 resources:[str]; 4 resourceNames:[str]; "
        "5 nonResourceURLs:[str]"
    ),
    "Role": "1 metadata:meta/v1.ObjectMeta; 2 rules:[PolicyRule]!",
    "RoleBinding": "1 metadata:meta/v1.ObjectMeta; 2 subjects:[Subject]; 3 roleRef:RoleRef",
    "RoleRef": "1 apiGroup!; 2 kind!; 3 name!",
    "Subject": "1 kind!; 2 apiGroup; 3 name!; 4 namespace",
}

NETWORKING_V1: Final[dict[str, str]] = {
    "HTTPIngressPath": "1 path; 3 pathType!; 2 backend:IngressBackend",
    "HTTPIngressRuleValue": "1 paths:[HTTPIngressPath]!",
    "IPBlock": "1 cidr!; 2 except:[str]",
    "Ingress": "1 metadata:meta/v1.ObjectMeta; 2 spec:IngressSpec; 3 status:IngressStatus",
    "IngressBackend": (
        "4 service:IngressServiceBackend!; 3 resource:core/v1.TypedLocalObjectReference!"
    ),
    "IngressClass": "1 metadata:meta/v1.ObjectMeta; 2 spec:IngressClassSpec",
    "IngressClassParametersReference": "1 apiGroup!; 2 kind!; 3 name!; 4 scope!; 5 namespace!",
    "IngressClassSpec": "1 controller; 2 parameters:IngressClassParametersReference!",
    "IngressLoadBalancerIngress": "1 ip; 2 hostname; 4 ports:[IngressPortStatus]",
    "IngressLoadBalancerStatus": "1 ingress:[IngressLoadBalancerIngress]",
    "IngressPortStatus": "1 port:i32!; 2 protocol!; 3 error!",
    "IngressRule": "1 host; 2 ingressRuleValue:IngressRuleValue^",
    "IngressRuleValue": "1 http:HTTPIngressRuleValue!",
    "IngressServiceBackend": "1 name!; 2 port:ServiceBackendPort",
    "IngressSpec": (
        "4 ingressClassName!; 1 defaultBackend:IngressBackend!; 2 tls:[IngressTLS]; "
        "3 rules:[IngressRule]"
    ),
    "IngressStatus": "1 loadBalancer:IngressLoadBalancerStatus",
    "IngressTLS": "1 hosts:[str]; 2 secretName",
    "NetworkPolicy": "1 metadata:meta/v1.ObjectMeta; 2 spec:NetworkPolicySpec",
    "NetworkPolicyEgressRule": "1 ports:[NetworkPolicyPort]; 2 to:[NetworkPolicyPeer]",
    "NetworkPolicyIngressRule": "1 ports:[NetworkPolicyPort]; 2 from:[NetworkPolicyPeer]",
    "NetworkPolicyPeer": (
        "1 podSelector:meta/v1.LabelSelector!; 2 namespaceSelector:meta/v1.LabelSelector!; "
        "3 ipBlock:IPBlock!"
    ),
    "NetworkPolicyPort": "1 protocol!; 2 port:IntOrString!; 3 endPort:i32!",
    "NetworkPolicySpec": (
        "1 podSelector:meta/v1.LabelSelector; 2 ingress:[NetworkPolicyIngressRule]; "
        "3 egress:[NetworkPolicyEgressRule]; 4 policyTypes:[str]"
    ),
    "ServiceBackendPort": "1 name; 2 number:i32",
}

DISCOVERY_V1: Final[dict[str, str]] = {
    "Endpoint": (
        "1 addresses:[str]!; 2 conditions:EndpointConditions; 3 hostname!; "
        "4 targetRef:core/v1.ObjectReference!; 5 deprecatedTopology:{str}; 6 nodeName!; 7 zone!; "
        "8 hints:EndpointHints!"
    ),
    "EndpointConditions": "1 ready:bool!; 2 serving:bool!; 3 terminating:bool!",
    "EndpointHints": "1 forZones:[ForZone]; 2 forNodes:[ForNode]",
    "EndpointPort": "1 name!; 2 protocol!; 3 port:i32!; 4 appProtocol!",
    "EndpointSlice": (
        "1 metadata:meta/v1.ObjectMeta; 4 addressType!; 2 endpoints:[Endpoint]!; "
        "3 ports:[EndpointPort]!"
    ),
    "ForNode": "1 name!",
    "ForZone": "1 name!",
}

STORAGE_V1: Final[dict[str, str]] = {
    "StorageClass": (
        "1 metadata:meta/v1.ObjectMeta; 2 provisioner!; 3 parameters:{str}; 4 reclaimPolicy!; "
        "5 mountOptions:[str]; 6 allowVolumeExpansion:bool!; 7 volumeBindingMode!; "
        "8 allowedTopologies:[core/v1.TopologySelectorTerm]"
    ),
}

SCHEDULING_V1: Final[dict[str, str]] = {
    "PriorityClass": (
        "1 metadata:meta/v1.ObjectMeta; 2 value:i32!; 3 globalDefault:bool; 4 description; "
        "5 preemptionPolicy!"
    ),
}

CERTIFICATES_V1: Final[dict[str, str]] = {
    "CertificateSigningRequest": (
        "1 metadata:meta/v1.ObjectMeta; 2 spec:CertificateSigningRequestSpec; "
        "3 status:CertificateSigningRequestStatus"
    ),
    "CertificateSigningRequestCondition": (
        "1 type!; 6 status!; 2 reason; 3 message; 4 lastUpdateTime:Time; 5 lastTransitionTime:Time"
    ),
    "CertificateSigningRequestSpec": (
        "1 request:bytes!; 7 signerName!; 8 expirationSeconds:i32!; 5 usages:[str]; 2 username; "
        "3 uid; 4 groups:[str]; 6 extra:{ExtraValue}"
    ),
    "CertificateSigningRequestStatus": (
        "1 conditions:[CertificateSigningRequestCondition]; 2 certificate:bytes"
    ),
    "ExtraValue": "=1 items:[str]",
}

TABLES: Final[Mapping[str, Mapping[str, str]]] = {
    "meta/v1": META_V1,
    "apps/v1": APPS_V1,
    "batch/v1": BATCH_V1,
    "scheduling/v1alpha3": SCHEDULING_V1ALPHA3,
    "policy/v1": POLICY_V1,
    "autoscaling/v1": AUTOSCALING_V1,
    "autoscaling/v2": AUTOSCALING_V2,
    "authorization/v1": AUTHORIZATION_V1,
    "authentication/v1": AUTHENTICATION_V1,
    "coordination/v1": COORDINATION_V1,
    "events/v1": EVENTS_V1,
    "rbac/v1": RBAC_V1,
    "networking/v1": NETWORKING_V1,
    "discovery/v1": DISCOVERY_V1,
    "storage/v1": STORAGE_V1,
    "scheduling/v1": SCHEDULING_V1,
    "certificates/v1": CERTIFICATES_V1,
}
