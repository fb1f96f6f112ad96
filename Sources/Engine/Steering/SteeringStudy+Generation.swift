import Foundation

/// A generation task's study (GSM8K): validation and test scored by greedy generation.
extension SteeringStudy {
    /// The problems at `poolIdx` (indices into the task's file), answered greedily with `set` added
    /// at its layers, from the zero-shot prompt `Question: …\nAnswer:` (or `prompts` when given).
    public func solve(_ poolIdx: [Int], set: SteeringSet, prompts: [String]? = nil,
                      onFinish: (Generation) -> Void = { _ in }) throws -> [GSM8KScore] {
        guard generative else { throw EngineError.invalidArgument("\(task) is scored by its choices, not by generation") }
        let problems = poolIdx.map { dataset.genItems[$0] }
        let gen = Generator(model: model)
        gen.steering = set
        return try gen.solve(problems, prompts: prompts ?? problems.map { GSM8K.question($0.question) }, maxTokens: maxTokens,
                             shouldStop: context.shouldStop, onFinish: onFinish)
    }

    /// Checks before any work that every validation and test prompt plus `maxTokens` fits the context.
    public func checkGeneration() throws {
        guard generative else { return }
        let ids = (splits.val + splits.test).map { model.tokenizer.encode(GSM8K.question(dataset.genItems[$0].question), addSpecial: model.config.addBos) }
        try Generator(model: model).checkLengths(ids, maxTokens: maxTokens)
    }

    /// Validation verdicts (strict as acc, flexible as acc_norm) with `set`, in `valIdx` order.
    func validationVerdicts(_ set: SteeringSet) throws -> [ItemScore] {
        try solve(splits.val, set: set).map { $0.itemScore }
    }

    /// The base model's validation verdicts: the same at every layer and seed, so generated once.
    func baseValidationVerdicts() -> [ItemScore] {
        verdictLock.lock(); defer { verdictLock.unlock() }
        if let b = baseVerdicts { return b }
        let b = (try? validationVerdicts([])) ?? []
        if b.count == splits.val.count { baseVerdicts = b }   // an interrupted run is not kept
        return b
    }

    /// The base model's validation scores as selection sees them: for a generation task, its
    /// verdicts in place of the one-choice log-likelihood scores (the loss stays).
    func selectionBase(_ b: (scores: [ItemScore], loss: Double)) -> (scores: [ItemScore], loss: Double) {
        generative ? (baseValidationVerdicts(), b.loss) : b
    }

    /// lm-eval's few-shot prompt of each test problem at `poolIdx` (shots from GSM8K's train
    /// split, drawn per document index as lm-eval draws them).
    public func fewShotPrompts(_ poolIdx: [Int], shots k: Int) throws -> [String] {
        let train = try GSM8K.trainSplit(besides: dataset.path)
        return GSM8K.prompts(test: dataset.genItems, train: train.genItems, docs: poolIdx, shots: k)
    }
}
