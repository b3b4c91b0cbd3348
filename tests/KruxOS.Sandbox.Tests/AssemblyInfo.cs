// The sandbox is Linux-only: namespaces, seccomp and cgroups.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
