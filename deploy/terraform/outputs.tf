output "release" {
  description = "Name, namespace and revision of the installed release."
  value = {
    name      = helm_release.smartsupport.name
    namespace = helm_release.smartsupport.namespace
    revision  = helm_release.smartsupport.metadata[0].revision
  }
}

output "url" {
  description = "Where the widget and the API answer."
  value       = "https://${var.host}/"
}
