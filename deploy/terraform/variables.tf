variable "kubeconfig_path" {
  description = "The kubeconfig that reaches the cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "The kubeconfig context to use (null: the current one)."
  type        = string
  default     = null
}

variable "namespace" {
  description = "Namespace of the release (created when missing)."
  type        = string
  default     = "smartsupport"
}

variable "release_name" {
  description = "Name of the Helm release."
  type        = string
  default     = "smartsupport"
}

variable "image_repository" {
  description = "Where the smartsupport image is pulled from."
  type        = string
  default     = "ghcr.io/smartsupport/smartsupport"
}

variable "image_tag" {
  description = "Image tag; empty: the chart's appVersion."
  type        = string
  default     = ""
}

variable "host" {
  description = "Public host name of the widget and API (the Ingress rule)."
  type        = string
}

variable "database_url" {
  description = "postgresql://user:password@host:5432/smartsupport"
  type        = string
  sensitive   = true
}

variable "redis_url" {
  description = "redis://host:6379/0"
  type        = string
  sensitive   = true
}

variable "events_url" {
  description = "amqp://user:password@host:5672/ for the event stream; empty: no events."
  type        = string
  default     = ""
  sensitive   = true
}

variable "web_max_replicas" {
  description = "Upper bound of the web HorizontalPodAutoscaler."
  type        = number
  default     = 10
}
