using System.Text;
using Google.Protobuf;

namespace TvixLowFs.Store;

/// <summary>Node names are bytes; messages show them as UTF-8 with invalid bytes replaced.</summary>
internal static class NodeName
{
    public static string Display(ByteString name) => Encoding.UTF8.GetString(name.Span);
}
