"""TrainingJob builders: the rendezvous Service and each attempt's Indexed Job, as manifests.

In the manner of dask-kubernetes: build the manifests for realistic runs and compare them
to the full expected dicts, so any change to what lands in the cluster shows up here.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.api.keys import (
    ATTEMPT_LABEL,
    MANAGED_BY,
    OPERATOR,
    RETRAINPOLICY_LABEL,
    TRAININGJOB_LABEL,
)
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.core.plan import Create
from mlops_operator.core.training import builders
from mlops_operator.core.training.observed import Observed
from mlops_operator.core.training.reconcile import reconcile
from mlops_operator.settings import TrainingDefaults

D = TrainingDefaults()
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
NODE_RANK_FROM = {"fieldRef": {"fieldPath": INDEX_FIELD}}

# examples/trainingjob-single-gpu.yaml with its commented-out Secret env, as the apiserver
# hands it to the operator.
SINGLE_GPU: dict[str, Any] = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {
        "name": "sentiment-finetune",
        "namespace": "nlp",
        "uid": "7f1c9a52-3b0e-4c1e-9a57-0d2a1b3c4d5e",
        "generation": 1,
        "resourceVersion": "481516",
        "creationTimestamp": "2026-11-22T04:00:00Z",
        # Not ours: must not be copied onto the children.
        "labels": {"app.kubernetes.io/part-of": "sentiment"},
    },
    "spec": {
        "image": "ghcr.io/example/sentiment-train:1.4.2",
        "command": ["python", "-m", "sentiment.train"],
        "args": ["--epochs=3", "--batch-size=32"],
        "gpusPerNode": 1,
        "resources": {
            "requests": {"cpu": "4", "memory": "16Gi"},
            "limits": {"memory": "16Gi"},
        },
        "dataset": {"uri": "s3://ml-data/datasets/reviews", "version": "2026-11-01"},
        "hyperparameters": {"warmup_ratio": "0.1", "learning_rate": "3e-5"},
        "output": {"modelUri": "s3://ml-models/sentiment/run-2026-11-01"},
        "env": [
            {"name": "AWS_REGION", "value": "eu-central-1"},
            {
                "name": "AWS_ACCESS_KEY_ID",
                "valueFrom": {"secretKeyRef": {"name": "s3-credentials", "key": "access-key-id"}},
            },
        ],
        "backoffLimit": 1,
        "activeDeadlineSeconds": 14400,
        "ttlSecondsAfterFinished": 86400,
    },
}

# examples/trainingjob-pytorch-2x4.yaml with its commented-out priorityClassName and
# serviceAccountName and the H100 node selector, created by a RetrainPolicy (hence its label).
PYTORCH_2X4: dict[str, Any] = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {
        "name": "llm-pretrain-2x4",
        "namespace": "research",
        "uid": "0b5e4d3c-2a19-4f8e-b7d6-c5a4b3a29180",
        "generation": 1,
        "labels": {RETRAINPOLICY_LABEL: "llm-drift", "team": "foundation-models"},
    },
    "spec": {
        "image": "ghcr.io/example/llm-train:2.1.0",
        "command": ["torchrun"],
        "args": ["/app/train.py", "--config=/app/configs/350m.yaml"],
        "framework": "pytorch",
        "nodes": 2,
        "gpusPerNode": 4,
        "procsPerNode": 4,
        "resources": {"requests": {"cpu": "32", "memory": "240Gi"}, "limits": {"memory": "240Gi"}},
        "dataset": {"uri": "s3://ml-data/datasets/web-text-dedup", "version": "v7"},
        "hyperparameters": {
            "learning_rate": "3e-4",
            "global_batch_size": "512",
            "max_steps": "20000",
            "precision": "bf16",
        },
        "output": {"modelUri": "s3://ml-models/llm-350m/pretrain-v7"},
        "checkpoint": {"uri": "s3://ml-checkpoints/llm-350m/pretrain-v7"},
        "backoffLimit": 3,
        "activeDeadlineSeconds": 172800,
        "priorityClassName": "training-high",
        "serviceAccountName": "trainer",
        "podTemplate": {
            "metadata": {
                "labels": {"team": "foundation-models"},
                "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
            },
            "spec": {
                "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                "volumes": [
                    {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}
                ],
                "containers": [
                    {
                        "name": "trainer",
                        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                    }
                ],
            },
        },
    },
}


def tj_from(body: dict[str, Any], **spec: Any) -> TrainingJob:
    """A TrainingJob from ``body`` with some spec fields replaced (None removes one)."""
    raw = copy.deepcopy(body)
    for key, value in spec.items():
        if value is None:
            raw["spec"].pop(key, None)
        else:
            raw["spec"][key] = value
    return TrainingJob.model_validate(raw)


def minimal(**spec: Any) -> TrainingJob:
    return TrainingJob.model_validate(
        {
            "metadata": {"name": "mini", "namespace": "default", "uid": "u-1", "generation": 1},
            "spec": {"image": "busybox:1.36", **spec},
        }
    )


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def trainer(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod_spec(job)["containers"][0]
    assert container["name"] == "trainer"
    return container


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    """The main container's env by name (values, or valueFrom for Downward API ones)."""
    out: dict[str, Any] = {}
    for var in trainer(job)["env"]:
        assert var["name"] not in out, f"duplicate env var {var['name']}"
        out[var["name"]] = var.get("value", var.get("valueFrom"))
    return out


# --- full manifests -----------------------------------------------------------------------


def test_service_of_a_single_gpu_run() -> None:
    tj = TrainingJob.model_validate(SINGLE_GPU)
    assert builders.service(tj, D) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "sentiment-finetune-nodes",
            "namespace": "nlp",
            "labels": {
                MANAGED_BY: OPERATOR,
                TRAININGJOB_LABEL: "sentiment-finetune",
            },
            "ownerReferences": [
                {
                    "apiVersion": "mlops.dev/v1alpha1",
                    "kind": "TrainingJob",
                    "name": "sentiment-finetune",
                    "uid": "7f1c9a52-3b0e-4c1e-9a57-0d2a1b3c4d5e",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {TRAININGJOB_LABEL: "sentiment-finetune"},
            "ports": [{"name": "rendezvous", "port": 29500}],
        },
    }


def test_job_of_a_single_gpu_generic_run() -> None:
    tj = TrainingJob.model_validate(SINGLE_GPU)
    labels = {
        MANAGED_BY: OPERATOR,
        TRAININGJOB_LABEL: "sentiment-finetune",
        ATTEMPT_LABEL: "1",
    }
    job = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=14400)
    assert job == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "sentiment-finetune-a1",
            "namespace": "nlp",
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "mlops.dev/v1alpha1",
                    "kind": "TrainingJob",
                    "name": "sentiment-finetune",
                    "uid": "7f1c9a52-3b0e-4c1e-9a57-0d2a1b3c4d5e",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": 0,
            "podFailurePolicy": {
                "rules": [
                    {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0]}}
                ]
            },
            "suspend": False,
            "activeDeadlineSeconds": 14400,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "ghcr.io/example/sentiment-train:1.4.2",
                            "command": ["python", "-m", "sentiment.train"],
                            "args": ["--epochs=3", "--batch-size=32"],
                            "env": [
                                {"name": "TRAININGJOB_NAME", "value": "sentiment-finetune"},
                                {"name": "TRAININGJOB_ATTEMPT", "value": "1"},
                                {"name": "NODE_RANK", "valueFrom": NODE_RANK_FROM},
                                {"name": "NUM_NODES", "value": "1"},
                                {"name": "DATASET_URI", "value": "s3://ml-data/datasets/reviews"},
                                {"name": "DATASET_VERSION", "value": "2026-11-01"},
                                {
                                    "name": "MODEL_OUTPUT_URI",
                                    "value": "s3://ml-models/sentiment/run-2026-11-01",
                                },
                                {
                                    "name": "HYPERPARAMETERS",
                                    "value": '{"learning_rate": "3e-5", "warmup_ratio": "0.1"}',
                                },
                                {"name": "HP_LEARNING_RATE", "value": "3e-5"},
                                {"name": "HP_WARMUP_RATIO", "value": "0.1"},
                                {"name": "AWS_REGION", "value": "eu-central-1"},
                                {
                                    "name": "AWS_ACCESS_KEY_ID",
                                    "valueFrom": {
                                        "secretKeyRef": {
                                            "name": "s3-credentials",
                                            "key": "access-key-id",
                                        }
                                    },
                                },
                            ],
                            "resources": {
                                "requests": {"cpu": "4", "memory": "16Gi"},
                                "limits": {"memory": "16Gi", "nvidia.com/gpu": 1},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def test_service_of_a_pytorch_run_selects_all_its_pods_and_carries_lineage() -> None:
    tj = TrainingJob.model_validate(PYTORCH_2X4)
    svc = builders.service(tj, D)
    assert svc["metadata"]["labels"] == {
        MANAGED_BY: OPERATOR,
        TRAININGJOB_LABEL: "llm-pretrain-2x4",
        RETRAINPOLICY_LABEL: "llm-drift",
    }
    assert svc["spec"] == {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "selector": {TRAININGJOB_LABEL: "llm-pretrain-2x4"},
        "ports": [{"name": "rendezvous", "port": 29500}],
    }


def test_job_of_a_two_node_four_gpu_pytorch_run() -> None:
    tj = TrainingJob.model_validate(PYTORCH_2X4)
    labels = {
        MANAGED_BY: OPERATOR,
        TRAININGJOB_LABEL: "llm-pretrain-2x4",
        RETRAINPOLICY_LABEL: "llm-drift",
        ATTEMPT_LABEL: "1",
    }
    master = "llm-pretrain-2x4-a1-0.llm-pretrain-2x4-nodes"
    job = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=172800)
    assert job == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "llm-pretrain-2x4-a1",
            "namespace": "research",
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "mlops.dev/v1alpha1",
                    "kind": "TrainingJob",
                    "name": "llm-pretrain-2x4",
                    "uid": "0b5e4d3c-2a19-4f8e-b7d6-c5a4b3a29180",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": 2,
            "parallelism": 2,
            "backoffLimit": 0,
            "podFailurePolicy": {
                "rules": [
                    {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0]}}
                ]
            },
            "suspend": False,
            "activeDeadlineSeconds": 172800,
            "template": {
                "metadata": {
                    "labels": {"team": "foundation-models", **labels},
                    "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
                },
                "spec": {
                    "restartPolicy": "Never",
                    "subdomain": "llm-pretrain-2x4-nodes",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "priorityClassName": "training-high",
                    "serviceAccountName": "trainer",
                    "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                    "volumes": [
                        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}
                    ],
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "ghcr.io/example/llm-train:2.1.0",
                            "command": ["torchrun"],
                            "args": ["/app/train.py", "--config=/app/configs/350m.yaml"],
                            "env": [
                                {"name": "TRAININGJOB_NAME", "value": "llm-pretrain-2x4"},
                                {"name": "TRAININGJOB_ATTEMPT", "value": "1"},
                                {"name": "MASTER_ADDR", "value": master},
                                {"name": "MASTER_PORT", "value": "29500"},
                                {"name": "WORLD_SIZE", "value": "8"},
                                {"name": "RANK", "valueFrom": NODE_RANK_FROM},
                                {"name": "NODE_RANK", "valueFrom": NODE_RANK_FROM},
                                {"name": "PET_NNODES", "value": "2"},
                                {"name": "PET_NPROC_PER_NODE", "value": "4"},
                                {"name": "PET_NODE_RANK", "valueFrom": NODE_RANK_FROM},
                                {"name": "PET_MASTER_ADDR", "value": master},
                                {"name": "PET_MASTER_PORT", "value": "29500"},
                                {
                                    "name": "DATASET_URI",
                                    "value": "s3://ml-data/datasets/web-text-dedup",
                                },
                                {"name": "DATASET_VERSION", "value": "v7"},
                                {
                                    "name": "MODEL_OUTPUT_URI",
                                    "value": "s3://ml-models/llm-350m/pretrain-v7",
                                },
                                {
                                    "name": "CHECKPOINT_URI",
                                    "value": "s3://ml-checkpoints/llm-350m/pretrain-v7",
                                },
                                {
                                    "name": "HYPERPARAMETERS",
                                    "value": json.dumps(
                                        {
                                            "global_batch_size": "512",
                                            "learning_rate": "3e-4",
                                            "max_steps": "20000",
                                            "precision": "bf16",
                                        }
                                    ),
                                },
                                {"name": "HP_GLOBAL_BATCH_SIZE", "value": "512"},
                                {"name": "HP_LEARNING_RATE", "value": "3e-4"},
                                {"name": "HP_MAX_STEPS", "value": "20000"},
                                {"name": "HP_PRECISION", "value": "bf16"},
                            ],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "resources": {
                                "requests": {"cpu": "32", "memory": "240Gi"},
                                "limits": {"memory": "240Gi", "nvidia.com/gpu": 4},
                            },
                            "ports": [{"name": "rendezvous", "containerPort": 29500}],
                            "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                        }
                    ],
                },
            },
        },
    }


def test_next_attempt_gets_its_own_name_master_and_attempt_but_the_same_checkpoint() -> None:
    tj = TrainingJob.model_validate(PYTORCH_2X4)
    a1 = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None)
    a3 = builders.job(tj, 3, D, suspend=False, active_deadline_seconds=100)
    assert a3["metadata"]["name"] == "llm-pretrain-2x4-a3"
    assert a3["metadata"]["labels"][ATTEMPT_LABEL] == "3"
    assert a3["spec"]["template"]["metadata"]["labels"][ATTEMPT_LABEL] == "3"
    assert a3["spec"]["activeDeadlineSeconds"] == 100
    assert "activeDeadlineSeconds" not in a1["spec"]
    env1, env3 = env_of(a1), env_of(a3)
    assert env3["TRAININGJOB_ATTEMPT"] == "3"
    assert (
        env3["MASTER_ADDR"]
        == env3["PET_MASTER_ADDR"]
        == "llm-pretrain-2x4-a3-0.llm-pretrain-2x4-nodes"
    )
    assert env3["CHECKPOINT_URI"] == env1["CHECKPOINT_URI"]
    assert env3["CHECKPOINT_URI"] == "s3://ml-checkpoints/llm-350m/pretrain-v7"
    # Everything else about the pods is identical between attempts.
    changed = {"TRAININGJOB_ATTEMPT", "MASTER_ADDR", "PET_MASTER_ADDR"}
    assert {k: v for k, v in env1.items() if k not in changed} == {
        k: v for k, v in env3.items() if k not in changed
    }


def test_suspend_flag_is_passed_to_the_job() -> None:
    tj = TrainingJob.model_validate(SINGLE_GPU)
    assert builders.job(tj, 1, D, suspend=True, active_deadline_seconds=None)["spec"]["suspend"]


def test_names() -> None:
    assert builders.service_name("resnet") == "resnet-nodes"
    assert builders.job_name("resnet", 2) == "resnet-a2"
    assert builders.master_address("resnet", 2) == "resnet-a2-0.resnet-nodes"


# --- environment -------------------------------------------------------------------------


def test_user_env_wins_over_ours_and_each_name_appears_once() -> None:
    user_env = [
        {"name": "MASTER_PORT", "value": "23456"},
        {"name": "NODE_RANK", "value": "0"},
        {"name": "MODEL_OUTPUT_URI", "value": "file:///scratch/model"},
        {"name": "HP_LEARNING_RATE", "value": "1e-3"},
    ]
    tj = tj_from(PYTORCH_2X4, env=user_env)
    job = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None)
    env = env_of(job)  # also asserts no duplicates
    assert env["MASTER_PORT"] == "23456"
    assert env["NODE_RANK"] == "0"
    assert env["MODEL_OUTPUT_URI"] == "file:///scratch/model"
    assert env["HP_LEARNING_RATE"] == "1e-3"
    # The rest of ours is still there.
    assert env["PET_MASTER_PORT"] == "29500"
    assert env["RANK"] == NODE_RANK_FROM
    # The user's variables come last, in the user's order.
    assert trainer(job)["env"][-4:] == user_env


def test_generic_multi_node_run_gets_node_rank_num_nodes_and_a_rendezvous_port() -> None:
    tj = minimal(nodes=3)
    job = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None)
    assert trainer(job)["env"] == [
        {"name": "TRAININGJOB_NAME", "value": "mini"},
        {"name": "TRAININGJOB_ATTEMPT", "value": "1"},
        {"name": "NODE_RANK", "valueFrom": NODE_RANK_FROM},
        {"name": "NUM_NODES", "value": "3"},
    ]
    assert trainer(job)["ports"] == [{"name": "rendezvous", "containerPort": 29500}]
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (3, 3)


def test_cpu_only_single_node_run_has_no_gpu_limit_toleration_resources_or_port() -> None:
    job = builders.job(minimal(), 1, D, suspend=False, active_deadline_seconds=None)
    pod = pod_spec(job)
    assert "tolerations" not in pod
    assert "resources" not in trainer(job)
    assert "ports" not in trainer(job)
    assert "command" not in trainer(job)
    assert "args" not in trainer(job)
    assert "priorityClassName" not in pod
    assert "serviceAccountName" not in pod
    assert "annotations" not in job["spec"]["template"]["metadata"]


def test_gpu_resource_and_toleration_key_are_operator_settings() -> None:
    amd = TrainingDefaults(gpu_resource="amd.com/gpu", gpu_toleration_key="amd.com/gpu")
    job = builders.job(minimal(gpusPerNode=2), 1, amd, suspend=False, active_deadline_seconds=None)
    assert trainer(job)["resources"] == {"limits": {"amd.com/gpu": 2}}
    assert pod_spec(job)["tolerations"] == [
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_rendezvous_port_is_an_operator_setting() -> None:
    defaults = TrainingDefaults(rendezvous_port=23456)
    tj = tj_from(PYTORCH_2X4)
    job = builders.job(tj, 1, defaults, suspend=False, active_deadline_seconds=None)
    env = env_of(job)
    assert env["MASTER_PORT"] == env["PET_MASTER_PORT"] == "23456"
    assert trainer(job)["ports"] == [{"name": "rendezvous", "containerPort": 23456}]
    assert builders.service(tj, defaults)["spec"]["ports"] == [
        {"name": "rendezvous", "port": 23456}
    ]


def test_dataset_without_version_gives_no_dataset_version() -> None:
    tj = minimal(dataset={"uri": "pvc://datasets/mnist"})
    env = env_of(builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None))
    assert env["DATASET_URI"] == "pvc://datasets/mnist"
    assert "DATASET_VERSION" not in env


@pytest.mark.parametrize(
    ("spec", "procs", "world"),
    [
        ({"framework": "pytorch", "nodes": 2, "gpusPerNode": 4}, "4", "8"),
        ({"framework": "pytorch", "nodes": 2, "gpusPerNode": 0}, "1", "2"),
        ({"framework": "pytorch", "nodes": 3}, "1", "3"),
        ({"framework": "pytorch", "nodes": 2, "gpusPerNode": 8, "procsPerNode": 2}, "2", "4"),
    ],
    ids=["gpus", "zero-gpus", "no-gpus", "explicit"],
)
def test_procs_per_node_defaults_to_gpus_per_node_or_one(
    spec: dict[str, Any], procs: str, world: str
) -> None:
    tj = minimal(**spec)
    assert tj.spec.effective_procs_per_node == int(procs)
    env = env_of(builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None))
    assert env["PET_NPROC_PER_NODE"] == procs
    assert env["WORLD_SIZE"] == world


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("learning-rate", "HP_LEARNING_RATE"),
        ("learning_rate", "HP_LEARNING_RATE"),
        ("lr", "HP_LR"),
        ("model.dropout", "HP_MODEL_DROPOUT"),
        ("batchSize", "HP_BATCHSIZE"),
        ("warmup ratio", "HP_WARMUP_RATIO"),
        ("1cycle", "HP_1CYCLE"),
    ],
)
def test_hp_env_name(key: str, name: str) -> None:
    assert builders.hp_env_name(key) == name


def test_hyperparameters_reach_the_pods_as_json_and_one_variable_each() -> None:
    tj = minimal(hyperparameters={"model.dropout": "0.1", "epochs": "3"})
    env = env_of(builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None))
    assert json.loads(env["HYPERPARAMETERS"]) == {"epochs": "3", "model.dropout": "0.1"}
    assert (env["HP_EPOCHS"], env["HP_MODEL_DROPOUT"]) == ("3", "0.1")


# --- podTemplate -------------------------------------------------------------------------


def template_job(pod_template: dict[str, Any], **spec: Any) -> dict[str, Any]:
    tj = minimal(gpusPerNode=1, podTemplate=pod_template, **spec)
    return builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None)


def test_pod_template_tolerations_and_volumes_are_appended_to_ours() -> None:
    spot = {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true"}
    job = template_job(
        {"spec": {"tolerations": [spot], "volumes": [{"name": "data", "emptyDir": {}}]}}
    )
    pod = pod_spec(job)
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        spot,
    ]
    assert pod["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_merge_pod_spec_merges_maps_key_by_key_and_appends_listed_lists() -> None:
    ours = {
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "volumes": [{"name": "a", "emptyDir": {}}],
        "restartPolicy": "Never",
        "dnsPolicy": "ClusterFirst",
    }
    theirs = {
        "nodeSelector": {"nvidia.com/gpu.product": "A100", "kubernetes.io/arch": "arm64"},
        "volumes": [{"name": "b", "emptyDir": {}}],
        "dnsPolicy": "Default",
        "hostIPC": True,
    }
    assert builders.merge_pod_spec(ours, theirs) == {
        "nodeSelector": {"kubernetes.io/arch": "arm64", "nvidia.com/gpu.product": "A100"},
        "volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}],
        "restartPolicy": "Never",
        "dnsPolicy": "Default",
        "hostIPC": True,
    }
    # Neither input is modified.
    assert ours["volumes"] == [{"name": "a", "emptyDir": {}}]
    assert ours["nodeSelector"] == {"kubernetes.io/arch": "amd64"}


def test_pod_template_affinity_is_added() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "topology.kubernetes.io/zone",
                                "operator": "In",
                                "values": ["a"],
                            }
                        ]
                    }
                ]
            }
        }
    }
    job = template_job({"spec": {"affinity": affinity}})
    assert pod_spec(job)["affinity"] == affinity


def test_trainer_container_in_template_merges_into_the_main_container() -> None:
    job = template_job(
        {
            "spec": {
                "containers": [
                    {
                        "name": "trainer",
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        "env": [{"name": "NCCL_DEBUG", "value": "INFO"}],
                        "resources": {"limits": {"memory": "8Gi"}},
                        "imagePullPolicy": "Always",
                    }
                ]
            }
        }
    )
    containers = pod_spec(job)["containers"]
    assert len(containers) == 1
    main = containers[0]
    assert main["image"] == "busybox:1.36"  # ours stays
    assert main["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert main["imagePullPolicy"] == "Always"
    # Resources merge key by key: the user's memory limit joins our GPU limit.
    assert main["resources"] == {"limits": {"nvidia.com/gpu": 1, "memory": "8Gi"}}
    # The template's env is appended after ours.
    assert main["env"][-1] == {"name": "NCCL_DEBUG", "value": "INFO"}
    assert main["env"][0] == {"name": "TRAININGJOB_NAME", "value": "mini"}


def test_other_containers_in_template_are_added_as_sidecars() -> None:
    sidecar = {
        "name": "log-shipper",
        "image": "fluent/fluent-bit:3.1",
        "volumeMounts": [{"name": "logs", "mountPath": "/var/log/train"}],
    }
    job = template_job({"spec": {"containers": [sidecar]}})
    containers = pod_spec(job)["containers"]
    assert [c["name"] for c in containers] == ["trainer", "log-shipper"]
    assert containers[1] == sidecar
    assert "volumeMounts" not in containers[0]


def test_user_security_context_overrides_ours() -> None:
    job = template_job(
        {
            "spec": {
                "securityContext": {
                    "runAsUser": 1000,
                    "fsGroup": 2000,
                    "seccompProfile": {"type": "Localhost", "localhostProfile": "train.json"},
                },
                "containers": [
                    {
                        "name": "trainer",
                        "securityContext": {
                            "allowPrivilegeEscalation": True,
                            "capabilities": {"add": ["IPC_LOCK"]},
                        },
                    }
                ],
            }
        }
    )
    assert pod_spec(job)["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "fsGroup": 2000,
        "seccompProfile": {"type": "Localhost", "localhostProfile": "train.json"},
    }
    assert trainer(job)["securityContext"] == {
        "allowPrivilegeEscalation": True,
        "capabilities": {"drop": ["ALL"], "add": ["IPC_LOCK"]},
    }


def test_template_labels_never_override_ours_and_annotations_are_added() -> None:
    job = template_job(
        {
            "metadata": {
                "labels": {
                    "team": "vision",
                    TRAININGJOB_LABEL: "someone-else",
                    ATTEMPT_LABEL: "9",
                },
                "annotations": {"sidecar.istio.io/inject": "false"},
            }
        }
    )
    meta = job["spec"]["template"]["metadata"]
    assert meta["labels"] == {
        "team": "vision",
        MANAGED_BY: OPERATOR,
        TRAININGJOB_LABEL: "mini",
        ATTEMPT_LABEL: "1",
    }
    assert meta["annotations"] == {"sidecar.istio.io/inject": "false"}


def test_building_does_not_modify_the_training_job() -> None:
    tj = TrainingJob.model_validate(PYTORCH_2X4)
    before = tj.model_dump(by_alias=True, mode="json")
    first = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None)
    second = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None)
    assert first == second
    assert tj.model_dump(by_alias=True, mode="json") == before
    assert tj.spec.resources == {
        "requests": {"cpu": "32", "memory": "240Gi"},
        "limits": {"memory": "240Gi"},
    }


def test_manifests_share_no_mutable_state_with_constants_or_the_spec() -> None:
    tj = TrainingJob.model_validate(PYTORCH_2X4)
    job = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None)
    trainer(job)["securityContext"]["capabilities"]["drop"].append("NET_RAW")
    pod_spec(job)["securityContext"]["seccompProfile"]["type"] = "Unconfined"
    pod_spec(job)["volumes"][0]["emptyDir"]["sizeLimit"] = "1Gi"
    again = builders.job(tj, 1, D, suspend=False, active_deadline_seconds=None)
    assert trainer(again)["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod_spec(again)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec(again)["volumes"][0]["emptyDir"]["sizeLimit"] == "64Gi"


# --- Kueue -------------------------------------------------------------------------------


def test_queue_name_labels_the_job_for_kueue_but_not_the_pods() -> None:
    tj = tj_from(SINGLE_GPU, queueName="team-a-gpus")
    job = builders.job(tj, 1, D, suspend=True, active_deadline_seconds=None)
    assert job["metadata"]["labels"] == {
        MANAGED_BY: OPERATOR,
        TRAININGJOB_LABEL: "sentiment-finetune",
        ATTEMPT_LABEL: "1",
        "kueue.x-k8s.io/queue-name": "team-a-gpus",
    }
    assert "kueue.x-k8s.io/queue-name" not in job["spec"]["template"]["metadata"]["labels"]


def test_a_queued_run_creates_its_job_suspended_for_kueue_to_admit() -> None:
    tj = tj_from(SINGLE_GPU, queueName="team-a-gpus")
    plan = reconcile(tj, Observed(service=True), NOW, D)
    assert len(plan.creates) == 1
    job = plan.creates[0].manifest
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a-gpus"
    assert plan.patches == []


def test_a_run_without_queue_creates_its_job_running() -> None:
    tj = TrainingJob.model_validate(SINGLE_GPU)
    plan = reconcile(tj, Observed(service=True), NOW, D)
    assert plan.creates == [
        Create(builders.job(tj, 1, D, suspend=False, active_deadline_seconds=14400))
    ]
    assert "kueue.x-k8s.io/queue-name" not in plan.creates[0].manifest["metadata"]["labels"]
