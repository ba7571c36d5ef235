import { ValidationError, ValidationPipe } from '@nestjs/common';
import { FieldError, ProblemException } from './problem';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({
      field,
      message: e.constraints?.whitelistValidation === message ? `${field} is not allowed` : message,
    }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/**
 * At most this many field errors go back: a body with thousands of unknown keys must not earn a
 * response of thousands of lines (docs/auth.md → Request limits).
 */
export const MAX_REPORTED_ERRORS = 20;

function capped(errors: FieldError[]): FieldError[] {
  if (errors.length <= MAX_REPORTED_ERRORS) return errors;
  return [
    ...errors.slice(0, MAX_REPORTED_ERRORS),
    { field: '*', message: `${errors.length - MAX_REPORTED_ERRORS} more errors not shown` },
  ];
}

/** Strict: unknown fields are rejected, types are coerced only where DTOs say so. */
export function strictValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => ProblemException.validation(capped(flatten(errors))),
  });
}
