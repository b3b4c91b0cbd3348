// The dashboard specs run the gateway on Linux (sandbox, sockets, file modes).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
