using System.CommandLine;
using TvixLowFs.Store.Services;
using TvixLowFs.Store.Verification;

namespace TvixLowFs.Cli;

/// <summary>
/// <c>tvixlowfs verify</c>: checks every object of the store the common options name and prints
/// one line per damaged or missing object on stdout (<c>blob|directory|pathinfo NAME: PROBLEM</c>),
/// then a summary on stderr. Exits 0 when the store is intact, 1 when anything is damaged or the
/// store cannot be read. Read-only: it never repairs or removes anything.
/// </summary>
public static class VerifyCommand
{
    public const int ExitDamaged = 1;

    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var command = new Command("verify",
            "Check every object of the store (blobs hash to their digest, directories decode, hash and keep the rules, " +
            "references are present with matching sizes, PathInfos are valid) and print each damaged one.");
        command.SetAction(Program.Guarded(context, async (parseResult, cancellationToken) =>
        {
            await using StoreServices store = context.OpenStore(parseResult);
            var verifier = new StoreVerifier(store, damage => context.Out.WriteLine(damage.ToString()));
            StoreVerificationSummary summary = await verifier.VerifyAsync(cancellationToken);
            await context.Out.FlushAsync(cancellationToken);
            context.Error.WriteLine(
                $"tvixlowfs: verified {summary.Blobs} blobs, {summary.Directories} directories, {summary.PathInfos} PathInfos: " +
                (summary.Damaged == 0 ? "no damage" : $"{summary.Damaged} damaged or missing"));
            return summary.Damaged == 0 ? 0 : ExitDamaged;
        }));
        return command;
    }
}
