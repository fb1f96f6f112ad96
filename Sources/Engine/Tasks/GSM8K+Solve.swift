import Foundation

extension GSM8KScore {
    /// Both verdicts as a two-way `ItemScore`, so `EvalSummary`, Wilson intervals and McNemar apply
    /// unchanged: `correct` (acc) is the strict-match verdict, `correctNorm` (acc_norm) the
    /// flexible-extract one. The log-likelihoods are not the model's; only the verdicts are meant.
    public var itemScore: ItemScore { GSM8KScore.verdictScore(doc: doc, strict: correctStrict, flexible: correctFlexible) }

    /// A pass/fail pair carried as a two-choice score with gold 0 (see `itemScore`).
    public static func verdictScore(doc: Int, strict: Bool, flexible: Bool) -> ItemScore {
        // argmax(ll) picks 0 iff strict; argmax(ll / chars) picks 0 iff flexible.
        let ll: [Double] = strict ? [-1, -2] : [-2, -1]
        let chars: [Int] = strict == flexible ? [1, 1] : (strict ? [1, 4] : [4, 1])
        return ItemScore(doc: doc, gold: 0, ll: ll, choiceChars: chars)
    }
}

extension GSM8K {
    /// A problem as a one-choice item for teacher-forced training: the zero-shot prompt as
    /// context and the full reference solution (after lm-eval's target delimiter " ") as the only
    /// continuation, so the LM loss of the gold solution flows through the multiple-choice path.
    public static func trainingItem(_ g: GenItem) -> MCItem {
        MCItem(doc: g.doc, context: question(g.question), choices: [g.answer], gold: 0)
    }

    /// The GSM8K train split next to a test file (`…/gsm8k/test.jsonl` → `…/gsm8k/train.jsonl`):
    /// the pool lm-eval draws its few-shot examples from.
    public static func trainSplit(besides testPath: String) throws -> Dataset {
        try Dataset.load(((testPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("train.jsonl"))
    }
}

extension Generator {
    /// Greedy answers to GSM8K problems, scored as lm-eval scores them: one `GSM8KScore` per
    /// prompt, in order (an in-order prefix when `shouldStop` ends it early).
    ///
    /// - Parameters:
    ///   - items: the problems (their reference answers), one per prompt.
    ///   - prompts: the text each problem is asked with (zero-shot or few-shot).
    ///   - ids: the prompts' token ids, when the caller already has them.
    public func solve(_ items: [GenItem], prompts: [String], ids known: [[Int]]? = nil, maxTokens: Int = GSM8K.maxTokens,
                      shouldStop: () -> Bool = { false }, onFinish: (Generation) -> Void = { _ in }) throws -> [GSM8KScore] {
        precondition(items.count == prompts.count, "one prompt per problem")
        let ids = known ?? prompts.map { model.tokenizer.encode($0, addSpecial: model.config.addBos) }
        let gens = try generate(ids, maxTokens: maxTokens, stop: GSM8K.stopSequences, shouldStop: shouldStop, onFinish: onFinish)
        return gens.map { g in
            GSM8KScore(doc: items[g.index].doc, prompt: prompts[g.index], generated: g.text, answer: items[g.index].answer, tokens: g.tokens.count)
        }
    }
}
