using NUnit.Framework;
using TvixLowFs.Tests.BinaryCache;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>boto3 (s3check.py) against the test RGW: the independent client that checks what landed in a bucket.</summary>
internal static class S3Check
{
    private static readonly string Script = Path.Join(TestContext.CurrentContext.TestDirectory, "ObjectStore", "s3check.py");

    public static void CreateBucket(CephRgw rgw, string bucket) => Run(rgw, "create", bucket);

    /// <summary>Every key below <paramref name="prefix"/> with its size.</summary>
    public static Dictionary<string, long> Keys(CephRgw rgw, string bucket, string prefix = "")
    {
        var keys = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in Run(rgw, "keys", bucket, prefix).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int space = line.LastIndexOf(' ');
            keys[line[..space]] = long.Parse(line[(space + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return keys;
    }

    public static byte[] Get(CephRgw rgw, string bucket, string key)
    {
        string file = Path.GetTempFileName();
        try
        {
            Run(rgw, "get", bucket, key, file);
            return File.ReadAllBytes(file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static void Put(CephRgw rgw, string bucket, string key, byte[] data)
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, data);
            Run(rgw, "put", bucket, key, file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string Run(CephRgw rgw, params string[] arguments) =>
        ChildProcess.Run("python3", [Script, .. arguments], new Dictionary<string, string>
        {
            ["S3CHECK_ENDPOINT"] = rgw.Endpoint,
            ["S3CHECK_ACCESS_KEY"] = CephRgw.AccessKey,
            ["S3CHECK_SECRET_KEY"] = CephRgw.SecretKey,
        }, timeoutSeconds: 60).Succeeded("s3check.py " + string.Join(' ', arguments)).Out;
}
