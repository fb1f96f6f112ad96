import Foundation

/// lm-eval 0.4's few-shot prompts for multiple-choice tasks (`ContextSampler`): each solved
/// example is `doc_to_text + target_delimiter " " + gold choice + fewshot_delimiter "\n\n"`,
/// the examples precede the item's own context, and the choices are scored after it as usual.
public enum FewShot {
    /// lm-eval's `fewshot_random_seed`.
    public static let seed: UInt64 = 1234

    /// `items` with `k` solved examples from `pool` before each context.
    ///
    /// One `random.Random(1234)` is shared by the items in order and each draws `sample(pool, k)`,
    /// as lm-eval does. With `sameSplit` (the pool is the split being evaluated) each draws `k + 1`
    /// and drops the item itself, as lm-eval does when `fewshot_split` is the test split; an item
    /// never sees itself as an example either way.
    /// - Parameter skip: items evaluated before `items` (their draws are made and discarded), so
    ///   `offset=N` gets the prompts lm-eval builds for documents N….
    public static func items(_ items: [MCItem], pool: [MCItem], shots k: Int, sameSplit: Bool, skip: Int = 0) -> [MCItem] {
        guard k > 0, !pool.isEmpty else { return items }
        var rnd = PythonRandom(seed: seed)
        let n = min(sameSplit ? k + 1 : k, pool.count)
        for _ in 0..<skip { _ = rnd.sample(pool.count, n) }
        return items.map { item in
            let drawn = rnd.sample(pool.count, n).filter { !(sameSplit && pool[$0].doc == item.doc) }.prefix(k)
            let prefix = drawn.map { pool[$0].context + " " + pool[$0].choices[pool[$0].gold] + "\n\n" }.joined()
            return MCItem(doc: item.doc, context: prefix + item.context, choices: item.choices, gold: item.gold)
        }
    }
}
