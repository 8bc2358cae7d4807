# Installs the smartsupport Helm chart from this repository (deploy/helm/smartsupport) with
# the helm provider. PostgreSQL, Redis and RabbitMQ are expected to exist already (managed
# services or other releases); their URLs are inputs.
#
#   terraform init
#   terraform apply -var host=support.example.com \
#     -var database_url=postgresql://... -var redis_url=redis://...
#
# Parsed by tests/test_deploy.py (python-hcl2); never applied from this repository's CI.

# One signing key for every replica, kept in the Terraform state (treat the state as secret).
resource "random_bytes" "secret_key" {
  length = 32
}

resource "helm_release" "smartsupport" {
  name             = var.release_name
  namespace        = var.namespace
  create_namespace = true
  chart            = "${path.module}/../helm/smartsupport"

  # The migration hook must finish before the release counts as installed.
  wait    = true
  timeout = 900
  atomic  = true

  values = [
    yamlencode({
      image = {
        repository = var.image_repository
        tag        = var.image_tag
      }
      web = {
        autoscaling = {
          enabled     = true
          minReplicas = 2
          maxReplicas = var.web_max_replicas
        }
      }
      ingress = {
        enabled = true
        hosts = [{
          host  = var.host
          paths = [{ path = "/", pathType = "Prefix" }]
        }]
        tls = [{
          secretName = "${var.release_name}-tls"
          hosts      = [var.host]
        }]
      }
      settings = {
        SMARTSUPPORT_PUBLIC_URL = "https://${var.host}"
      }
    })
  ]

  set_sensitive {
    name  = "secret.databaseUrl"
    value = var.database_url
  }

  set_sensitive {
    name  = "secret.redisUrl"
    value = var.redis_url
  }

  set_sensitive {
    name  = "secret.eventsUrl"
    value = var.events_url
  }

  set_sensitive {
    name  = "secret.secretKey"
    value = random_bytes.secret_key.hex
  }
}
