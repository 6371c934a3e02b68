/**
 * A request the target cannot serve as asked (a server tool, a gif for Gemini, a PDF where PDFs are
 * off). Request translators throw it; the generic adapter answers 400 before any upstream call.
 */
export class TranslationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TranslationError';
  }
}
