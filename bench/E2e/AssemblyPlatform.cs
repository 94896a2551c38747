// The end-to-end benchmark drives Linux tools, /proc and FUSE mounts: it runs on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
